//go:build !crashtest

package main

// crashHook is the crash tests' hook; release builds have none.
func crashHook() func(string) { return nil }
