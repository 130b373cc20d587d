package cluster

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// StopAPIServer stops the instance's kube-apiserver alone (SIGTERM, then SIGKILL after
// 10 s); etcd, the kubelet and the running pods stay. Clients get "connection refused"
// until StartAPIServer. It is how tests restart the API server under a running
// workload; Open reports the instance as stopped meanwhile.
func (c *Cluster) StopAPIServer() error {
	p := paths(c.Dir)
	pr, ok := readProc(p, "kube-apiserver")
	if !ok {
		return fmt.Errorf("stop the API server of cluster %s: no process recorded in %s", c.Name, p.pid("kube-apiserver"))
	}
	if err := pr.stop(10 * time.Second); err != nil {
		return fmt.Errorf("stop the API server of cluster %s: %w", c.Name, err)
	}
	return nil
}

// StartAPIServer starts the kube-apiserver that StopAPIServer stopped, with the same
// flags, certificates and port, and waits until it reports ready.
func (c *Cluster) StartAPIServer(ctx context.Context) error {
	p := paths(c.Dir)
	if pr, ok := readProc(p, "kube-apiserver"); ok && pr.alive() {
		return fmt.Errorf("start the API server of cluster %s: it still runs (PID %d)", c.Name, pr.PID)
	}
	if _, err := startProcess(p, "kube-apiserver", filepath.Join(c.binDir, "kube-apiserver"), apiserverArgs(p, c.state), nil); err != nil {
		return fmt.Errorf("start the API server of cluster %s: %w", c.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := waitFor(ctx, p, "kube-apiserver", func() error { return c.readyz(ctx) }); err != nil {
		return fmt.Errorf("start the API server of cluster %s: %w", c.Name, err)
	}
	return nil
}
