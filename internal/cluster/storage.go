package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// StorageClass is the default StorageClass of every instance: the controller manager's
	// hostPath provisioner makes a folder on this machine for each claim (a
	// ReadWriteMany claim too: there is one node). The folder belongs to root with mode
	// 0750 and the kubelet applies no fsGroup to hostPath volumes, so a pod that writes
	// there as another user makes it its own first (as the client chart's init containers
	// do on bare metal).
	StorageClass = "harness-hostpath"
	// hostPathProvisioner is the in-tree provisioner --enable-hostpath-provisioner runs.
	hostPathProvisioner = "kubernetes.io/host-path"
	// hostPathRoot is where it makes the folders: fixed in Kubernetes, shared by all
	// instances.
	hostPathRoot = "/tmp/hostpath_pv"
)

// createStorageClass adds the default StorageClass (see StorageClass); volumes are
// deleted with their claims, and their folders with them.
func createStorageClass(ctx context.Context, c *Cluster) error {
	reclaim := corev1.PersistentVolumeReclaimDelete
	binding := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name:        StorageClass,
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       hostPathProvisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &binding,
	}
	_, err := c.Client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", StorageClass, err)
	}
	return nil
}

// provisionedFolders lists the folders of the instance's hostPath volumes that the
// provisioner made, for Down to remove: they are outside the instance folder and
// nothing else would. It asks the API server, so a stopped API server leaves them (the
// error says so).
func provisionedFolders(ctx context.Context, opts Options, st state) ([]string, error) {
	c, err := newCluster(opts, st)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pvs, err := c.Client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list the volumes of cluster %s (their folders under %s stay): %w", opts.Name, hostPathRoot, err)
	}
	var folders []string
	for _, pv := range pvs.Items {
		if hp := pv.Spec.HostPath; hp != nil && isProvisionedFolder(hp.Path) {
			folders = append(folders, hp.Path)
		}
	}
	return folders, nil
}

// isProvisionedFolder tells a folder the provisioner made (one level below hostPathRoot)
// from any other hostPath a volume may name.
func isProvisionedFolder(path string) bool {
	clean := filepath.Clean(path)
	return filepath.Dir(clean) == hostPathRoot && clean == path && !strings.HasPrefix(filepath.Base(clean), ".")
}

// removeFolders removes the provisioned folders, and hostPathRoot when nothing else is
// left in it.
func removeFolders(folders []string) error {
	for _, f := range folders {
		if err := os.RemoveAll(f); err != nil {
			return fmt.Errorf("remove volume folder %s: %w", f, err)
		}
	}
	os.Remove(hostPathRoot) // fails while another instance has volumes: fine
	return nil
}
