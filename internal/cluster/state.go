package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"strconv"
)

// Ports are the loopback TCP ports of one instance.
type Ports struct {
	EtcdClient        int `json:"etcd_client"`
	EtcdPeer          int `json:"etcd_peer"`
	APIServer         int `json:"apiserver"`
	Kubelet           int `json:"kubelet"`
	KubeletHealthz    int `json:"kubelet_healthz"`
	ControllerManager int `json:"controller_manager"`
	Scheduler         int `json:"scheduler"`
	Registry          int `json:"registry"`
	MetricsServer     int `json:"metrics_server"`
}

func (p Ports) list() []int {
	return []int{p.EtcdClient, p.EtcdPeer, p.APIServer, p.Kubelet, p.KubeletHealthz, p.ControllerManager, p.Scheduler, p.Registry, p.MetricsServer}
}

// state is what an instance folder records about itself (state.json).
type state struct {
	Name       string `json:"name"`
	Ports      Ports  `json:"ports"`
	CgroupRoot string `json:"cgroup_root"`
	// Ready is set once Up has seen the whole cluster work.
	Ready bool `json:"ready"`
	// Generation is the harness generation that made the instance (see generation).
	Generation int `json:"generation,omitempty"`
}

// generation numbers what an instance has beyond its processes: Up starts an instance
// of an older generation anew. 1: the host-network admission policies, the hostPath
// StorageClass. 2: the metrics server. 3: TCP probes pointed at loopback.
const generation = 3

func readState(p paths) (state, error) {
	var s state
	data, err := os.ReadFile(p.state())
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("read %s (remove the folder with `scripts/cluster down`): %w", p.state(), err)
	}
	return s, nil
}

func writeState(p paths, s state) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(p.state(), data, 0o644)
}

func writeFileAtomic(name string, data []byte, mode os.FileMode) error {
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// Port blocks: each instance takes portBlock consecutive ports, below the kernel's
// ephemeral range (32768-60999) so that outgoing connections never hold them.
const (
	portLow   = 20000
	portHigh  = 32000
	portBlock = 10
)

// pickPorts derives a block of ports from the name (so an instance tends to keep its
// ports) and moves to the next block while any port of it is taken.
func pickPorts(name string) (Ports, error) {
	h := fnv.New32a()
	h.Write([]byte(name))
	blocks := (portHigh - portLow) / portBlock
	start := int(h.Sum32() % uint32(blocks))
	for i := 0; i < blocks; i++ {
		base := portLow + ((start+i)%blocks)*portBlock
		p := Ports{
			EtcdClient: base, EtcdPeer: base + 1, APIServer: base + 2, Kubelet: base + 3,
			KubeletHealthz: base + 4, ControllerManager: base + 5, Scheduler: base + 6, Registry: base + 7,
			MetricsServer: base + 8,
		}
		if allFree(p.list()) {
			return p, nil
		}
	}
	return Ports{}, errors.New("no free block of loopback ports between 20000 and 32000: stop other clusters with `scripts/cluster down --name NAME`")
}

func allFree(ports []int) bool {
	for _, port := range ports {
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
