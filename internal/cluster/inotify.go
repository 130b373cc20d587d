package cluster

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// inotifyLimits are the machine's inotify limits an instance raises when they are lower:
// the kubelet and containerd of one instance take about 16 inotify instances, and the
// kernel's usual 128 per user stops the seventh instance's kubelet with "too many open
// files". Raising them is a machine-wide setting, which the harness may make since it
// runs as root; a limit that is already higher is left as it is.
var inotifyLimits = map[string]int{
	"/proc/sys/fs/inotify/max_user_instances": 1024,
	"/proc/sys/fs/inotify/max_user_watches":   524288,
}

// raiseInotifyLimits raises each limit of inotifyLimits that is lower, and says so on log;
// where /proc/sys is read-only (a container) it says what to run instead and goes on.
func raiseInotifyLimits(log io.Writer) {
	for file, want := range inotifyLimits {
		data, err := os.ReadFile(file)
		if err != nil {
			continue // no inotify here: nothing to raise
		}
		have, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || have >= want {
			continue
		}
		if err := os.WriteFile(file, []byte(strconv.Itoa(want)), 0o644); err != nil {
			fmt.Fprintf(log, "harness: %s is %d and could not be raised to %d (%v): with several instances up, a kubelet may fail with \"too many open files\"; run sysctl -w %s=%d\n",
				file, have, want, err, sysctlName(file), want)
			continue
		}
		fmt.Fprintf(log, "harness: raised %s from %d to %d (several instances' kubelets and containerds)\n", sysctlName(file), have, want)
	}
}

// sysctlName is the sysctl name of a /proc/sys file.
func sysctlName(file string) string {
	return strings.ReplaceAll(strings.TrimPrefix(file, "/proc/sys/"), "/", ".")
}
