package blobsig_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tracebloc/edge/internal/release/blobsig"
	"github.com/tracebloc/edge/internal/release/releasetest"
)

// TestCosignVerifyBlob checks the format against the real cosign CLI, offline, in key-pair
// mode: `cosign verify-blob --key cosign.pub --signature SHA256SUMS.sig
// --insecure-ignore-tlog=true SHA256SUMS` accepts Sign's signature and refuses it for a
// changed file and for another key; and a signature cosign sign-blob makes with our key,
// imported into cosign's key format, passes Verify.
func TestCosignVerifyBlob(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the cosign CLI")
	}
	dir := t.TempDir()
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	key, other := releasetest.ECKey(t), releasetest.ECKey(t)
	pub, err := blobsig.MarshalPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := blobsig.MarshalPublicKey(&other.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write("cosign.pub", pub)
	write("other.pub", otherPub)
	write("SHA256SUMS", []byte(sums))
	write("CHANGED", []byte(strings.Replace(sums, "0123", "0124", 1)))
	sig, err := blobsig.Sign(rand.Reader, key, strings.NewReader(sums))
	if err != nil {
		t.Fatal(err)
	}
	write("SHA256SUMS.sig", sig)

	verify := func(pub, file string) (string, error) {
		return releasetest.Cosign(t, dir, []string{"COSIGN_PASSWORD=release-test"}, "verify-blob", "--key", pub, "--signature", "SHA256SUMS.sig", "--insecure-ignore-tlog=true", file)
	}
	if out, err := verify("cosign.pub", "SHA256SUMS"); err != nil || !strings.Contains(out, "Verified OK") {
		t.Errorf("cosign verify-blob of Sign's signature: %v\n%s", err, out)
	}
	if out, err := verify("cosign.pub", "CHANGED"); err == nil {
		t.Errorf("cosign verify-blob of a changed file passed:\n%s", out)
	}
	if out, err := verify("other.pub", "SHA256SUMS"); err == nil {
		t.Errorf("cosign verify-blob with another key passed:\n%s", out)
	}

	// cosign's own signature with our key: import-key-pair takes the PKCS #8 PEM that
	// MarshalPrivateKey writes and stores it in cosign's encrypted format.
	priv, err := blobsig.MarshalPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write("release.pem", priv)
	if out, err := releasetest.Cosign(t, dir, []string{"COSIGN_PASSWORD=release-test"}, "import-key-pair", "--key", "release.pem", "--output-key-prefix", "imported"); err != nil {
		t.Fatalf("cosign import-key-pair of MarshalPrivateKey's PEM: %v\n%s", err, out)
	}
	if out, err := releasetest.Cosign(t, dir, []string{"COSIGN_PASSWORD=release-test"}, "sign-blob", "--key", "imported.key", "--tlog-upload=false", "--output-signature", "cosign.sig", "--yes", "SHA256SUMS"); err != nil {
		t.Fatalf("cosign sign-blob: %v\n%s", err, out)
	}
	theirs, err := os.ReadFile(filepath.Join(dir, "cosign.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if err := blobsig.Verify(&key.PublicKey, strings.NewReader(sums), theirs); err != nil {
		t.Errorf("Verify(cosign sign-blob's signature) = %v", err)
	}
}
