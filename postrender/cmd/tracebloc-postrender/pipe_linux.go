package main

import (
	"os"
	"syscall"
)

// fSetPipeSize is Linux's F_SETPIPE_SZ, which package syscall does not name.
const fSetPipeSize = 1031

// growPipe makes the pipe behind f, if it is one, hold n bytes (up to 1 MiB, what
// /proc/sys/fs/pipe-max-size lets every user have by default), so that the whole output
// is written at once and the post-renderer exits, where a 64 KiB pipe makes every 64 KiB
// wait until Helm has read the last. Anything but a pipe, or a smaller limit, leaves f as
// it is.
func growPipe(f *os.File, n int) {
	n = min(n, 1<<20)
	raw, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, fd, fSetPipeSize, uintptr(n))
	})
}
