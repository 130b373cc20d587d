package cluster

import (
	"os"
	"strings"
	"testing"
)

func TestUnescapeMount(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{name: "plain", in: "/a/b", want: "/a/b"},
		{name: "space", in: `/a\040b`, want: "/a b"},
		{name: "tab and backslash", in: `/a\011\134b`, want: "/a\t\\b"},
		{name: "trailing backslash", in: `/a\`, want: `/a\`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := unescapeMount(tc.in); got != tc.want {
				t.Errorf("unescapeMount(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestProcStatOfThisProcess(t *testing.T) {
	start, state, err := procStat(os.Getpid())
	if err != nil {
		t.Fatalf("procStat(self) error: %v", err)
	}
	if start == 0 || (state != "R" && state != "S") {
		t.Errorf("procStat(self) = %d, %q, want a start time and state R or S", start, state)
	}
	self := proc{PID: os.Getpid(), Start: start}
	if !self.alive() {
		t.Error("alive() = false for this process")
	}
	if (proc{PID: os.Getpid(), Start: start + 1}).alive() {
		t.Error("alive() = true for another start time: a reused PID would be taken for ours")
	}
}

func TestPickPorts(t *testing.T) {
	a, err := pickPorts("one")
	if err != nil {
		t.Fatal(err)
	}
	again, err := pickPorts("one")
	if err != nil {
		t.Fatal(err)
	}
	if a != again {
		t.Errorf("pickPorts(one) = %+v then %+v, want the same block", a, again)
	}
	seen := map[int]bool{}
	for _, p := range a.list() {
		if p < portLow || p >= portHigh || seen[p] {
			t.Errorf("pickPorts(one) port %d: out of range or twice in %+v", p, a)
		}
		seen[p] = true
	}
}

func TestOptionsName(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{name: "default", in: ""},
		{name: "dashes and digits", in: "test-2"},
		{name: "upper case", in: "Test", wantErr: "lower-case"},
		{name: "slash", in: "../x", wantErr: "lower-case"},
		{name: "too long", in: strings.Repeat("a", 33), wantErr: "lower-case"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Options{Name: tc.in, Dir: "/tmp/x", BinDir: "/tmp/b"}.withDefaults()
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("withDefaults(Name %q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		})
	}
	_, err := Options{Dir: "/" + strings.Repeat("d", 90)}.withDefaults()
	if err == nil || !strings.Contains(err.Error(), "too deep") {
		t.Errorf("withDefaults(deep Dir) error = %v, want one about the socket path", err)
	}
}
