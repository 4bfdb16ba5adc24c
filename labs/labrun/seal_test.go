package labrun

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/evidence"
	"edgelab/labs/labtest"
)

// runBusyLab runs a two-scenario lab whose second port is held: it cannot
// run, and still writes (and seals) its all-ERROR report.
func runBusyLab(t *testing.T) (dir string, code int, stderr string) {
	t.Helper()
	busy, _ := labtest.BusyAddr(t)
	dir = filepath.Join(t.TempDir(), "evidence")
	var out, errb bytes.Buffer
	code = Main(context.Background(), Config{Args: []string{"lab", dir}, EvidenceDir: dir, Stdout: &out, Stderr: &errb}, Spec{
		Name: "LAB1", Title: "LAB1 — a lab", DirName: "lab1",
		Scenarios: []Scenario{{Name: "S-A", Title: "a"}, {Name: "S-B", Title: "b"}},
		Ports:     []string{labtest.FreeAddr(t), busy},
		Run:       func(context.Context, *Env, Scenario) {},
		Evaluate: func(string) ([]evidence.Scenario, []evidence.Check) {
			return nil, []evidence.Check{{ID: "LAB1-01", Scenario: "S-A", Status: evidence.Error}, {ID: "LAB1-02", Scenario: "S-B", Status: evidence.Error}}
		},
	})
	return dir, code, errb.String()
}

func TestMain_SealsTheEvidenceDirectoryLast(t *testing.T) {
	dir, code, stderr := runBusyLab(t)
	require.Equal(t, 2, code, stderr)
	v, err := evidence.VerifySeal(dir, nil)
	require.NoError(t, err)
	assert.Equal(t, evidence.VerifyMatched, v.Manifest)
	assert.Equal(t, evidence.VerifyMatched, v.Attestation)
	assert.Empty(t, v.Problem)
	assert.NoFileExists(t, filepath.Join(dir, evidence.SignatureFile))

	data, err := os.ReadFile(filepath.Join(dir, evidence.ManifestFile))
	require.NoError(t, err)
	for _, name := range []string{"report.json", "report.txt", "junit.xml", "index.html", "environment.json", "S-A/scenario.json", "S-B/scenario.json"} {
		assert.Contains(t, string(data), "  "+name+"\n")
	}

	r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	require.NoError(t, err)
	assert.Equal(t, evidence.SchemaVersion, r.Schema)
	assert.Equal(t, evidence.Error, r.Verdict)
	assert.Equal(t, evidence.CheckCounts{Error: 2}, r.Tally)
	assert.Equal(t, 2, r.ExitStatus)
	assert.NotEmpty(t, r.Provenance.LoadStart)
	assert.NotEmpty(t, r.Provenance.LoadEnd)
}

func TestMain_SignsWithTheSigningKey(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	keyFile := filepath.Join(t.TempDir(), "signing.pem")
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	t.Setenv(evidence.EnvSigningKey, keyFile)

	dir, code, stderr := runBusyLab(t)
	require.Equal(t, 2, code, stderr)
	v, err := evidence.VerifySeal(dir, pub)
	require.NoError(t, err)
	assert.Equal(t, evidence.VerifyVerified, v.Signature)
	assert.Empty(t, v.Problem)
}

func TestMain_AnUnreadableSigningKeyStopsBeforeAnything(t *testing.T) {
	t.Setenv(evidence.EnvSigningKey, filepath.Join(t.TempDir(), "absent.pem"))
	dir, code, stderr := runBusyLab(t)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "lab1: "+evidence.EnvSigningKey+": key: open ")
	assert.NoDirExists(t, dir)
}

func TestChangedStatuses(t *testing.T) {
	before := []evidence.Check{{ID: "a", Status: evidence.Pass}, {ID: "b", Status: evidence.Error}}
	after := []evidence.Check{{ID: "a", Status: evidence.Fail}, {ID: "b", Status: evidence.Error}, {ID: "c", Status: evidence.Pass}}
	want := []string{"a PASS→FAIL", "c →PASS"}
	if diff := cmp.Diff(want, ChangedStatuses(before, after)); diff != "" {
		t.Errorf("ChangedStatuses (-want +got):\n%s", diff)
	}
}
