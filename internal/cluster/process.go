package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a process the harness started, recorded in pids/NAME.json. The start time
// (field 22 of /proc/PID/stat) tells the process apart from a later one with the same PID.
type proc struct {
	PID   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// startProcess starts a component in its own session, detached from the caller (it
// outlives `cluster up` and the test binary that started it), logging to logs/NAME.log.
func startProcess(p paths, name, binary string, args []string, env []string) (proc, error) {
	logFile, err := os.OpenFile(p.logs(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return proc{}, fmt.Errorf("open log of %s: %w", name, err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, args...)
	cmd.Dir = string(p)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return proc{}, fmt.Errorf("start %s: %w", name, err)
	}
	pr := proc{PID: cmd.Process.Pid}
	pr.Start, err = startTime(pr.PID)
	if err != nil {
		return proc{}, fmt.Errorf("start %s: %w", name, err)
	}
	// Reap it when it ends while this process still runs, so a crash shows as "not
	// alive" instead of a zombie.
	go cmd.Wait() //nolint:errcheck // the exit status is in the log
	data, _ := json.Marshal(pr)
	if err := writeFileAtomic(p.pid(name), data, 0o644); err != nil {
		return proc{}, err
	}
	return pr, nil
}

func readProc(p paths, name string) (proc, bool) {
	var pr proc
	data, err := os.ReadFile(p.pid(name))
	if err != nil || json.Unmarshal(data, &pr) != nil || pr.PID <= 0 {
		return proc{}, false
	}
	return pr, true
}

// alive says whether the recorded process still runs (and is not a zombie).
func (pr proc) alive() bool {
	st, state, err := procStat(pr.PID)
	return err == nil && st == pr.Start && state != "Z" && state != "X"
}

func startTime(pid int) (uint64, error) {
	st, _, err := procStat(pid)
	return st, err
}

// procStat reads the start time and the state of a process from /proc/PID/stat.
func procStat(pid int) (uint64, string, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	// The command name (field 2) may hold spaces and parentheses: split after the last ')'.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	fields := strings.Fields(s[i+1:])
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return 0, "", fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return start, fields[0], nil
}

// stop sends SIGTERM, waits up to grace for the process to end, then sends SIGKILL.
func (pr proc) stop(grace time.Duration) error {
	if !pr.alive() {
		return nil
	}
	if err := syscall.Kill(pr.PID, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop process %d: %w", pr.PID, err)
	}
	if pr.waitGone(grace) {
		return nil
	}
	if err := syscall.Kill(pr.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process %d: %w", pr.PID, err)
	}
	if !pr.waitGone(10 * time.Second) {
		return fmt.Errorf("process %d did not end after SIGKILL", pr.PID)
	}
	return nil
}

func (pr proc) waitGone(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for pr.alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}
