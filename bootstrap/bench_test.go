package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tracebloc/edge/internal/cluster"
	"github.com/tracebloc/edge/internal/cluster/clustertest"
)

// BenchmarkEnrollment runs the bootstrap binary, as the container does, against the local
// cluster and a development backend that polls every second. One op is a full enrollment
// (code shown, approved at once, Secret written, exit) and then a restart (fast path).
// Reported: approval to Secret written (mean and worst; target at most the interval plus
// 1 s) and the peak RSS of each process (target under 30 MiB), from the kernel's
// accounting of the child.
func BenchmarkEnrollment(b *testing.B) {
	c := clustertest.Get(b)
	bin := buildCrashBinary(b) // without TRACEBLOC_TEST_CRASH_AT it is the real binary
	var (
		latencies          []time.Duration
		rssEnroll, rssRest int64
	)
	for b.Loop() {
		lat, enroll, restart := enrollOnce(b, c, bin)
		latencies = append(latencies, lat)
		rssEnroll, rssRest = max(rssEnroll, enroll), max(rssRest, restart)
	}
	var sum time.Duration
	for _, l := range latencies {
		sum += l
	}
	b.ReportMetric((sum / time.Duration(len(latencies))).Seconds(), "s-approval-to-secret")
	b.ReportMetric(slices.Max(latencies).Seconds(), "s-approval-to-secret-max")
	b.ReportMetric(float64(rssEnroll)/1024, "MiB-peak-rss-enroll")
	b.ReportMetric(float64(rssRest)/1024, "MiB-peak-rss-restart")
}

// enrollOnce returns the time from approval to the complete Secret and the peak RSS (KiB)
// of the enrolling run and of the restart.
func enrollOnce(b *testing.B, c *cluster.Cluster, bin string) (time.Duration, int64, int64) {
	b.Helper()
	srv, _, ns, env := crashWorld(b, c)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	w, err := c.Client.CoreV1().Secrets(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=edge-credentials"})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	written := make(chan time.Time, 1)
	go func() {
		for ev := range w.ResultChan() {
			if s, ok := ev.Object.(*corev1.Secret); ok && len(s.Data["CLIENT_ID"]) > 0 && s.Annotations["tracebloc.io/enrollment"] == "minted" {
				written <- time.Now()
				return
			}
		}
	}()

	approved := make(chan time.Time, 1)
	enroll := runBinary(b, bin, env, func(line string) {
		if code := userCodeRE.FindString(line); code != "" && len(approved) == 0 {
			if err := srv.Approve(code, "dev@example.com"); err != nil {
				b.Errorf("approve: %v", err)
			}
			approved <- time.Now()
		}
	})
	var lat time.Duration
	select {
	case at := <-written:
		lat = at.Sub(<-approved)
	case <-ctx.Done():
		b.Fatal("the Secret was never written")
	}
	restart := runBinary(b, bin, env, func(string) {})
	return lat, enroll, restart
}

// runBinary runs the bootstrap to its end, passing each output line to line, and returns
// its peak RSS in KiB: the VmHWM of /proc/PID/status, read every 5 ms while it runs. (The
// kernel's rusage figure of a child of this test binary would include the test binary's
// own memory: Go starts children with vfork, and exec keeps the high-water mark of the
// memory it replaces. VmHWM belongs to the new program alone.)
func runBinary(b *testing.B, bin string, env []string, line func(string)) int64 {
	b.Helper()
	cmd := exec.Command(bin)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line(sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var hwm int64
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			hwm = max(hwm, vmHWM(cmd.Process.Pid))
			select {
			case <-exited:
				peak <- hwm
				return
			case <-tick.C:
			}
		}
	}()
	err := cmd.Wait()
	close(exited)
	pw.Close()
	<-done
	if err != nil {
		b.Fatalf("the bootstrap ended with %v", err)
	}
	return <-peak
}

// vmHWM returns the peak resident set size of a running process in KiB (0 once it ended).
func vmHWM(pid int) int64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kib, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kib
		}
	}
	return 0
}
