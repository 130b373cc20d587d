// Skeleton: replaced by its issue's implementation.
package main

func main() {}
