package main

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startPR starts the release-built post-renderer with args, its stdin a pipe the test
// writes, and sends each stderr line to lines.
func startPR(t *testing.T, args ...string) (cmd *exec.Cmd, stdin io.WriteCloser, lines <-chan string, stdout *strings.Builder) {
	t.Helper()
	cmd = exec.Command(filepath.Join(binary(t), "tracebloc-postrender"), args...)
	cmd.Env = []string{"HOME=" + t.TempDir(), "KUBECONFIG=" + filepath.Join(t.TempDir(), "none")}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout = &strings.Builder{}
	cmd.Stdout = stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return cmd, stdin, ch, stdout
}

// waitLine reads lines until one contains want; every line read goes to the test log.
func waitLine(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	for l := range lines {
		t.Log(l)
		if strings.Contains(l, want) {
			return
		}
	}
	t.Fatalf("stderr ended without a line containing %q", want)
}

// A render that is asking the cluster when it is interrupted says so, exits 1 and writes
// nothing.
func TestInterruptedWhileAskingTheCluster(t *testing.T) {
	asked := make(chan struct{}, 1)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case asked <- struct{}{}:
		default:
		}
		select { // the cluster never answers: only the interrupt ends the request
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	cmd, stdin, lines, stdout := startPR(t, "--kubeconfig", kubeconfigAt(t, srv.URL), "--namespace", "tracebloc")
	if _, err := io.WriteString(stdin, stream); err != nil {
		t.Fatal(err)
	}
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	<-asked
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	var rest []string
	for l := range lines {
		rest = append(rest, l)
	}
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, strings.Join(rest, "\n"))
	}
	if got := strings.Join(rest, "\n"); !strings.Contains(got, "interrupted: the render stopped before it finished, and nothing was written") {
		t.Errorf("stderr does not say the render was interrupted:\n%s", got)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout has %d bytes after an interrupted render", stdout.Len())
	}
}

// An offline render has nothing to wait for: Ctrl-C ends it at once, also while it waits
// for the rest of its input.
func TestOfflineEndsOnInterrupt(t *testing.T) {
	cmd, stdin, lines, stdout := startPR(t, "--offline", "--cluster-id", "c1", "--namespace", "tracebloc")
	// One whole document and the marker of the next, so that the render starts (and logs
	// that it is offline) and then waits for more of the stream, which never comes.
	if _, err := io.WriteString(stdin, stream+"---\n"); err != nil {
		t.Fatal(err)
	}
	waitLine(t, lines, "offline: no cluster access")
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	// A render that ignores the signal waits for its input forever; end it, and say why.
	hung := time.AfterFunc(30*time.Second, func() { _ = cmd.Process.Kill() })
	for l := range lines {
		t.Log(l)
	}
	err := cmd.Wait()
	if !hung.Stop() {
		t.Fatal("the offline render still ran 30 s after SIGINT: Ctrl-C must end it")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("exit: %v, want the end by SIGINT", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGINT {
		t.Errorf("exit: %v, want the end by SIGINT", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout has %d bytes after an interrupted render", stdout.Len())
	}
	_ = stdin.Close()
}
