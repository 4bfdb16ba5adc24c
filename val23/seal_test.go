package val23

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
)

// manifestFiles are the files a sealed directory's manifest lists.
func manifestFiles(t *testing.T, dir string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, evidence.ManifestFile))
	require.NoError(t, err)
	entries, err := evidence.ParseManifest(data)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Path)
	}
	return out
}

// dirSnapshot is every file of dir and its content.
func dirSnapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		out[path] = string(data)
		return err
	}))
	return out
}

// Tampering one byte of any evidence file makes --check-only ERROR naming
// that file, and rewrite nothing: with the byte restored, the directory
// matches its original seal again.
func TestCheckOnly_OneAlteredByteInAnyFileIsAnErrorNamingIt(t *testing.T) {
	dir := copyRecorded(t)
	files := manifestFiles(t, dir)
	require.Greater(t, len(files), 40, "the recorded run's files")
	require.Contains(t, files, "report.json")
	require.Contains(t, files, "S-B/peer-evidence.json")
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, filepath.FromSlash(name))
			orig, err := os.ReadFile(p)
			require.NoError(t, err)
			data := append([]byte(nil), orig...)
			if len(data) == 0 {
				data = []byte{0}
			} else {
				data[len(data)/2] ^= 0x01
			}
			require.NoError(t, os.WriteFile(p, data, 0o644))

			code, stdout, stderr := checkOnly(t, dir)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "verdict ERROR: evidence altered: "+name+" changed;")
			assert.Contains(t, stderr, "nothing rewritten")

			require.NoError(t, os.WriteFile(p, orig, 0o644))
			v, err := evidence.VerifySeal(dir, nil)
			require.NoError(t, err)
			require.Empty(t, v.Problem, "the refused directory was rewritten")
		})
	}
}

func TestCheckOnly_MissingAndAddedFilesAreErrorsNamingThem(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string
	}{
		{"missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, SC, "audit.jsonl")))
		}, "evidence altered: S-C/audit.jsonl missing"},
		{"added", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, SA, "extra-receipt.json"), []byte("{}"), 0o644))
		}, "evidence altered: S-A/extra-receipt.json added"},
		{"added dot file", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, ".hidden"), nil, 0o644))
		}, "evidence altered: .hidden added"},
		{"manifest edited to bless a change", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "report.txt"), []byte("Overall: PASS=10 FAIL=0\n"), 0o644))
			_, err := evidence.WriteManifest(dir)
			require.NoError(t, err)
		}, "evidence altered: attestation.intoto.json does not attest this manifest.sha256"},
		{"never sealed", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, evidence.ManifestFile)))
			require.NoError(t, os.Remove(filepath.Join(dir, evidence.AttestationFile)))
		}, "evidence unverifiable: no manifest.sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyRecorded(t)
			tt.tamper(t, dir)
			code, stdout, stderr := checkOnly(t, dir)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, "verdict ERROR: "+tt.want)
		})
	}
}

// --ignore-manifest re-checks altered evidence as it is, says in the
// re-check record what did not match, and seals the directory anew.
func TestCheckOnly_IgnoreManifestRechecksAndRecordsTheMismatch(t *testing.T) {
	dir := copyRecorded(t)
	addSegment(t, dir, SB, "val23-sb-006")

	code, stdout, stderr := checkOnlyWith(t, dir, true)
	require.Equal(t, 1, code, "stderr:\n%s", stderr)
	assert.Contains(t, stdout, "VAL23-05 FAIL rate-limited delivery: 6/5 delivered\n")
	assert.Contains(t, stderr, "re-checking evidence whose seal does not verify")

	r := readReport(t, dir)
	rc := r.Rechecks[len(r.Rechecks)-1]
	require.NotNil(t, rc.Verified)
	assert.Equal(t, evidence.VerifyMismatched, rc.Verified.Manifest)
	assert.Equal(t, []string{"S-B/peer-evidence.json"}, rc.Verified.Changed)
	assert.True(t, rc.Verified.Ignored)
	assert.Contains(t, rc.Note, "the seal did not verify (evidence altered: S-B/peer-evidence.json changed)")
	assert.Equal(t, evidence.Fail, r.Verdict)
	assert.Equal(t, 1, r.ExitStatus)

	// The new seal covers the re-check's files: a plain re-check verifies.
	code, _, stderr = checkOnly(t, dir)
	assert.Equal(t, 1, code, "stderr:\n%s", stderr)
	last := readReport(t, dir).Rechecks
	assert.Equal(t, evidence.VerifyMatched, last[len(last)-1].Verified.Manifest)
	assert.False(t, last[len(last)-1].Verified.Ignored)
}

// The re-check record says what it verified, and the directory is sealed
// again over the rewritten report.
func TestCheckOnly_RecordsWhatItVerifiedAndReseals(t *testing.T) {
	dir := copyRecorded(t)
	n := len(manifestFiles(t, dir))
	code, _, stderr := checkOnly(t, dir)
	require.Equal(t, 0, code, stderr)
	rc := readReport(t, dir).Rechecks[0]
	require.NotNil(t, rc.Verified)
	assert.Equal(t, evidence.Verification{
		Manifest: evidence.VerifyMatched, ManifestSHA256: rc.Verified.ManifestSHA256, Files: n,
		Attestation: evidence.VerifyMatched, Signature: evidence.VerifyAbsent,
	}, *rc.Verified)
	assert.Len(t, rc.Verified.ManifestSHA256, 64)
	v, err := evidence.VerifySeal(dir, nil)
	require.NoError(t, err)
	assert.Empty(t, v.Problem, "the re-checked directory's own seal")
	assert.NotEqual(t, rc.Verified.ManifestSHA256, v.ManifestSHA256, "report.json was rewritten, so the manifest is new")
}

func writeKeyPair(t *testing.T) (privPath, pubPath string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	dir := t.TempDir()
	privPath, pubPath = filepath.Join(dir, "signing.pem"), filepath.Join(dir, "verify.pem")
	require.NoError(t, os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644))
	return privPath, pubPath
}

func TestCheckOnly_SignsAndVerifiesTheAttestation(t *testing.T) {
	privPath, pubPath := writeKeyPair(t)
	_, otherPub := writeKeyPair(t)
	dir := copyRecorded(t)

	// A re-check with a signing key signs its new attestation.
	t.Setenv(evidence.EnvSigningKey, privPath)
	code, _, stderr := checkOnly(t, dir)
	require.Equal(t, 0, code, stderr)
	require.FileExists(t, filepath.Join(dir, evidence.SignatureFile))
	assert.True(t, readReport(t, dir).Rechecks[0].Signed)

	// The right key verifies it.
	t.Setenv(evidence.EnvVerifyKey, pubPath)
	code, _, stderr = checkOnly(t, dir)
	require.Equal(t, 0, code, stderr)
	rcs := readReport(t, dir).Rechecks
	assert.Equal(t, evidence.VerifyVerified, rcs[len(rcs)-1].Verified.Signature)

	// Another key does not: ERROR, nothing rewritten.
	t.Setenv(evidence.EnvVerifyKey, otherPub)
	before := dirSnapshot(t, dir)
	code, _, stderr = checkOnly(t, dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "verdict ERROR: signature invalid")
	assert.Equal(t, before, dirSnapshot(t, dir))

	// Nor does a signature that was replaced.
	t.Setenv(evidence.EnvVerifyKey, pubPath)
	require.NoError(t, os.WriteFile(filepath.Join(dir, evidence.SignatureFile), []byte(strings.Repeat("A", 86)+"==\n"), 0o644))
	code, _, stderr = checkOnly(t, dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "signature invalid")

	// A key that cannot be read stops the re-check before anything.
	t.Setenv(evidence.EnvVerifyKey, filepath.Join(t.TempDir(), "none.pem"))
	code, _, stderr = checkOnly(t, dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, evidence.EnvVerifyKey)
}

// evidence/latest is a symlink: a re-check through it verifies and
// rewrites the run it points at.
func TestCheckOnly_ThroughASymlink(t *testing.T) {
	dir := copyRecorded(t)
	link := filepath.Join(t.TempDir(), "latest")
	require.NoError(t, os.Symlink(dir, link))
	code, _, stderr := checkOnly(t, link)
	require.Equal(t, 0, code, stderr)
	r := readReport(t, dir)
	real, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, real, r.EvidenceDir)
	assert.Equal(t, evidence.VerifyMatched, r.Rechecks[0].Verified.Manifest)
	m, err := evidence.CheckManifest(link)
	require.NoError(t, err)
	assert.True(t, m.OK())
}
