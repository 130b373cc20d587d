package journey_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tracebloc/edge/internal/journey"
	"github.com/tracebloc/edge/postrender/pins"
)

// fakePusher records what Push uploads and answers a digest per reference.
type fakePusher struct{ pushed map[string]string }

func (f *fakePusher) PushImageFile(_ context.Context, tarball, ref string) (string, error) {
	f.pushed[ref] = tarball
	return "sha256:" + strings.Repeat(map[bool]string{true: "b", false: "a"}[strings.Contains(ref, "bootstrap")], 64), nil
}

// TestPush: the bootstrap image goes to the registry by its name, the stand-ins through
// their own push, and the one pin list the post-renderer gets pins each to the digest its
// push returned.
func TestPush(t *testing.T) {
	dir := t.TempDir()
	a := &journey.Artifacts{BootstrapImage: "b.tar", Pins: filepath.Join(dir, "images.yaml")}
	p := &fakePusher{pushed: map[string]string{}}
	const jm = "docker.io/tracebloc/jobs-manager"
	standIns := func(ctx context.Context, p journey.Pusher) ([]byte, error) {
		digest, err := p.PushImageFile(ctx, "jm.tar", jm+":prod")
		return []byte("images:\n- name: " + jm + "\n  tag: prod\n  digest: " + digest + "\n"), err
	}
	if err := a.Push(context.Background(), p, standIns); err != nil {
		t.Fatal(err)
	}
	wantPushed := map[string]string{journey.BootstrapRepo + ":" + journey.LocalTag: "b.tar", jm + ":prod": "jm.tar"}
	if diff := cmp.Diff(wantPushed, p.pushed); diff != "" {
		t.Errorf("Push() pushed (-want +got):\n%s", diff)
	}
	data, err := os.ReadFile(a.Pins)
	if err != nil {
		t.Fatal(err)
	}
	set, err := pins.Parse(data)
	if err != nil {
		t.Fatalf("the pin list does not parse: %v\n%s", err, data)
	}
	for ref, want := range map[string]string{
		journey.BootstrapRepo + ":" + journey.LocalTag: journey.BootstrapRepo + "@sha256:" + strings.Repeat("b", 64),
		jm + ":prod": jm + "@sha256:" + strings.Repeat("a", 64),
	} {
		if got, _ := set.Resolve(ref); got != want {
			t.Errorf("pin of %s = %q, want %q", ref, got, want)
		}
	}
}

// TestInstallArgsPullPolicy: images pushed to a registry are pulled (the post-renderer
// gets their pin list, the tag-named test hook pulls Always); images loaded by hand are
// never pulled.
func TestInstallArgsPullPolicy(t *testing.T) {
	tests := []struct {
		name, images     string
		want, wantAbsent []string
	}{
		{name: "pushed", images: "/x/images.yaml",
			want:       []string{"--images=/x/images.yaml", "bootstrap.image.pullPolicy=Always"},
			wantAbsent: []string{"bootstrap.image.pullPolicy=Never"}},
		{name: "loaded by hand",
			want:       []string{"bootstrap.image.pullPolicy=Never"},
			wantAbsent: []string{"bootstrap.image.pullPolicy=Always"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &journey.Stage{Root: "/repo", Kubeconfig: "/k", PostRender: "/pr", BackendURL: "http://b", Images: tc.images}
			args := s.InstallArgs("install", "edge", "ns")
			for _, w := range tc.want {
				if !slices.Contains(args, w) {
					t.Errorf("InstallArgs() = %v, want %s among them", args, w)
				}
			}
			for _, w := range tc.wantAbsent {
				if slices.Contains(args, w) {
					t.Errorf("InstallArgs() = %v, want no %s", args, w)
				}
			}
		})
	}
}
