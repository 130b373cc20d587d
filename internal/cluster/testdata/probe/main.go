// Command probe reports, one fact a line, how the container it runs in is confined: its
// user, whether it may write to /, and its capabilities, seccomp mode and no_new_privs
// from /proc/self/status. With the argument "sleep" it then blocks until killed.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	fmt.Printf("uid=%d gid=%d\n", os.Getuid(), os.Getgid())
	if err := os.WriteFile("/probe-write-test", []byte("x"), 0o644); err != nil {
		fmt.Printf("write /: denied (%v)\n", err)
	} else {
		fmt.Println("write /: allowed")
	}
	printStatus()
	if len(os.Args) > 1 && os.Args[1] == "sleep" {
		for {
			time.Sleep(time.Hour)
		}
	}
}

func printStatus() {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		fmt.Println("status:", err)
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k {
		case "CapEff", "CapPrm", "CapBnd", "Seccomp", "NoNewPrivs":
			fmt.Printf("%s=%s\n", k, strings.TrimSpace(v))
		}
	}
}
