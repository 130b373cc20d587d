package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// pipeSize is what F_GETPIPE_SZ says the pipe behind f holds.
func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	raw, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n uintptr
	var errno syscall.Errno
	if err := raw.Control(func(fd uintptr) {
		n, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, 1032 /* F_GETPIPE_SZ */, 0)
	}); err != nil || errno != 0 {
		t.Fatalf("F_GETPIPE_SZ: %v %v", err, errno)
	}
	return int(n)
}

// TestRunGrowsStdoutPipe checks that a render writes to a stdout pipe that holds its whole
// output, so that it need not wait for Helm to read it 64 KiB at a time, and writes it
// all.
func TestRunGrowsStdoutPipe(t *testing.T) {
	clearEnv(t)
	input := strings.Repeat(stream, 2000) // about 200 KB of output
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := pipeSize(t, w)
	read := make(chan []byte)
	go func() {
		data, _ := io.ReadAll(r)
		read <- data
	}()
	var stderr bytes.Buffer
	if err := run(context.Background(), []string{"--offline", "--cluster-id", "id", "--namespace", "ns"}, strings.NewReader(input), w, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	size := pipeSize(t, w)
	w.Close()
	out := <-read
	if size < len(out) || size <= before {
		t.Errorf("stdout pipe holds %d bytes after run (%d before), want at least the output's %d", size, before, len(out))
	}
	if n := bytes.Count(out, []byte("cluster-id: id")); n != 2000 {
		t.Errorf("run wrote %d labelled documents of 2000", n)
	}
}
