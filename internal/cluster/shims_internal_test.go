package cluster

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestShimsFindsUnrecordedShims: a shim of the instance that containerd never recorded
// in a shim.pid (one that was starting when its task went) is found by its command line
// and ended, and a shim of another instance is left alone.
func TestShimsFindsUnrecordedShims(t *testing.T) {
	p, other := paths(t.TempDir()), paths(t.TempDir())
	start := func(socket string) *exec.Cmd {
		t.Helper()
		// A stand-in with a shim's command line (the shim binary's name, the socket it
		// serves), before bash execs sleep and after.
		cmd := exec.Command("bash", "-c", `exec -a containerd-shim-runc-v2 bash -c 'sleep 300; exit 0' -address "$0"`, socket)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its sleep goes with it
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); _ = cmd.Wait() })
		// Until the outer bash has exec'd: during the exec the command line is unreadable.
		cmdline := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/cmdline"
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if b, _ := os.ReadFile(cmdline); bytes.HasPrefix(b, []byte("containerd-shim-runc-v2\x00")) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the stand-in shim %d never took its command line", cmd.Process.Pid)
			}
		}
		return cmd
	}
	mine, theirs := start(p.containerdSocket()), start(other.containerdSocket())
	is := func(cmd *exec.Cmd) func(proc) bool {
		return func(pr proc) bool { return pr.PID == cmd.Process.Pid }
	}
	found := shims(p)
	if !slices.ContainsFunc(found, is(mine)) {
		t.Fatalf("shims() = %v, want the unrecorded shim %d of this instance", found, mine.Process.Pid)
	}
	if slices.ContainsFunc(found, is(theirs)) {
		t.Errorf("shims() = %v includes %d, a shim of another instance", found, theirs.Process.Pid)
	}
	if err := killShims(found); err != nil {
		t.Fatalf("killShims: %v", err)
	}
	if err := mine.Wait(); err == nil {
		t.Error("the instance's shim exited by itself, want it killed")
	}
	if !slices.ContainsFunc(shims(other), is(theirs)) {
		t.Error("the other instance's shim was ended too")
	}
}
