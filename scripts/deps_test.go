// Package scripts holds the tests of the shell scripts beside it; the scripts are the
// package's only product.
package scripts

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	clusterPackages = []string{"containerd", "runc", "busybox-static", "ca-certificates"}
	testPackages    = append(clusterPackages[:len(clusterPackages):len(clusterPackages)], "chromium")
)

// standIns writes dpkg-query, apt-get and id for scripts/deps to find on PATH: dpkg-query
// knows the installed packages, apt-get records its calls, id prints uid. Without apt,
// there is no apt-get.
func standIns(t *testing.T, installed []string, uid string, apt bool) (dir, calls string) {
	t.Helper()
	dir = t.TempDir()
	calls = filepath.Join(dir, "calls")
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("dpkg-query", `case " `+strings.Join(installed, " ")+` " in *" $3 "*) echo "install ok installed";; *) exit 1;; esac`+"\n")
	write("id", "echo "+uid+"\n")
	if apt {
		write("apt-get", `echo "apt-get $*" >>`+calls+"\n")
	}
	return dir, calls
}

func TestDeps(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		installed  []string
		uid        string
		noApt      bool
		wantExit   int
		wantCalls  []string
		wantStderr string
	}{
		{
			name:      "everything there: no apt-get at all",
			args:      []string{"test"},
			installed: testPackages,
			uid:       "0",
		},
		{
			name:       "the tests need chromium: update, then install only what is missing",
			args:       []string{"test"},
			installed:  clusterPackages,
			uid:        "0",
			wantCalls:  []string{"apt-get update -qq", "apt-get install -y -qq --no-install-recommends chromium"},
			wantStderr: "installing chromium",
		},
		{
			name:      "the demo needs no chromium",
			args:      []string{"demo"},
			installed: clusterPackages,
			uid:       "0",
		},
		{
			name:       "a new machine gets the cluster's packages",
			args:       []string{"cluster"},
			uid:        "0",
			wantCalls:  []string{"apt-get update -qq", "apt-get install -y -qq --no-install-recommends containerd runc busybox-static ca-certificates"},
			wantStderr: "installing containerd runc busybox-static ca-certificates",
		},
		{
			name:       "not root: names the packages and the command",
			args:       []string{"test"},
			installed:  []string{"containerd", "busybox-static", "ca-certificates"},
			uid:        "1000",
			wantExit:   1,
			wantStderr: "missing runc chromium: install them as root (sudo apt-get install --no-install-recommends runc chromium)",
		},
		{
			name:       "no apt-get: says so",
			args:       []string{"demo"},
			uid:        "0",
			noApt:      true,
			wantExit:   1,
			wantStderr: "missing containerd runc busybox-static ca-certificates, and this machine has no apt-get",
		},
		{
			name:       "an unknown set",
			args:       []string{"everything"},
			uid:        "0",
			wantExit:   2,
			wantStderr: "usage: scripts/deps test|demo|cluster",
		},
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, err := filepath.Abs("deps")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, calls := standIns(t, tt.installed, tt.uid, !tt.noApt)
			cmd := exec.Command(bash, append([]string{script}, tt.args...)...)
			cmd.Env = []string{"PATH=" + dir}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			exit := 0
			if ee, ok := err.(*exec.ExitError); ok {
				exit = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if exit != tt.wantExit {
				t.Errorf("scripts/deps %s exit = %d, want %d; stderr: %s", strings.Join(tt.args, " "), exit, tt.wantExit, stderr.String())
			}
			if len(out) > 0 {
				t.Errorf("scripts/deps wrote %q to stdout, want nothing", out)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("scripts/deps stderr = %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
			if tt.wantStderr == "" && stderr.Len() > 0 {
				t.Errorf("scripts/deps stderr = %q, want nothing", stderr.String())
			}
			var got []string
			if data, err := os.ReadFile(calls); err == nil {
				got = strings.Split(strings.TrimSpace(string(data)), "\n")
			}
			if diff := cmp.Diff(tt.wantCalls, got); diff != "" {
				t.Errorf("apt-get calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestMakeInstallsDeps: `make test` and `make demo` install their packages first, and
// .ci/run leaves that to them.
func TestMakeInstallsDeps(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	for target, want := range map[string]string{"test": "scripts/deps test", "demo": "scripts/deps demo"} {
		out, err := exec.Command("make", "-n", "-C", "..", "--no-print-directory", target).CombinedOutput()
		if err != nil {
			t.Fatalf("make -n %s: %v\n%s", target, err, out)
		}
		first, _, _ := strings.Cut(string(out), "\n")
		if first != want {
			t.Errorf("make %s runs %q first, want %q:\n%s", target, first, want, out)
		}
	}
	ci, err := os.Open(filepath.Join("..", ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	defer ci.Close()
	sc := bufio.NewScanner(ci)
	for sc.Scan() {
		if line := sc.Text(); !strings.HasPrefix(line, "#") && (strings.Contains(line, "apt-get") || strings.Contains(line, "dpkg")) {
			t.Errorf(".ci/run installs packages itself (%q), want make to", line)
		}
	}
}
