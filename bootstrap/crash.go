//go:build crashtest

package main

import "os"

// crashHook ends the process at the step named by TRACEBLOC_TEST_CRASH_AT, as abruptly
// as a SIGKILL: no deferred call runs. Only binaries built with -tags crashtest have it.
func crashHook() func(string) {
	at := os.Getenv("TRACEBLOC_TEST_CRASH_AT")
	if at == "" {
		return nil
	}
	return func(step string) {
		if step == at {
			os.Exit(99)
		}
	}
}
