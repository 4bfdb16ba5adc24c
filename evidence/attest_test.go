package evidence

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeKeys writes an ed25519 key pair as the env variables expect them:
// the private key PEM PKCS#8, the public key PEM PKIX.
func writeKeys(t *testing.T) (privPath, pubPath string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	require.NoError(t, err)
	dir := t.TempDir()
	privPath, pubPath = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub.pem")
	require.NoError(t, os.WriteFile(privPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644))
	return privPath, pubPath
}

// The attestation's shape, read as plain JSON: an in-toto Statement v1
// about manifest.sha256 with the test-result predicate's fields.
func TestAttestation_IsAnInTotoTestResultStatementAboutTheManifest(t *testing.T) {
	r := sampleReport() // 8 PASS, 1 FAIL, 1 ERROR
	r.Provenance.GitRevision = "0123456789abcdef0123456789abcdef01234567"
	r.Provenance.Binaries = []Binary{{Name: "edged", Path: "/w/bin/edged", SHA256: hex.EncodeToString(make([]byte, 32))}}
	manifest := hex.EncodeToString(sha256.New().Sum(nil))
	data, err := Attestation(r, manifest, "file:///runs/x/report.json")
	require.NoError(t, err)

	var doc struct {
		Type    string `json:"_type"`
		Subject []struct {
			Name   string            `json:"name"`
			Digest map[string]string `json:"digest"`
		} `json:"subject"`
		PredicateType string `json:"predicateType"`
		Predicate     struct {
			Result        string   `json:"result"`
			URL           string   `json:"url"`
			PassedTests   []string `json:"passedTests"`
			WarnedTests   []string `json:"warnedTests"`
			FailedTests   []string `json:"failedTests"`
			Configuration []struct {
				Name   string            `json:"name"`
				Digest map[string]string `json:"digest"`
			} `json:"configuration"`
		} `json:"predicate"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, "https://in-toto.io/Statement/v1", doc.Type)
	assert.Equal(t, "https://in-toto.io/attestation/test-result/v0.1", doc.PredicateType)
	require.Len(t, doc.Subject, 1)
	assert.Equal(t, ManifestFile, doc.Subject[0].Name)
	assert.Equal(t, map[string]string{"sha256": manifest}, doc.Subject[0].Digest)
	p := doc.Predicate
	assert.Equal(t, "FAILED", p.Result)
	assert.Equal(t, "file:///runs/x/report.json", p.URL)
	if diff := cmp.Diff([]string{"VAL23-01", "VAL23-02", "VAL23-03", "VAL23-04", "VAL23-06", "VAL23-07", "VAL23-08", "VAL23-09"}, p.PassedTests); diff != "" {
		t.Errorf("passedTests (-want +got):\n%s", diff)
	}
	assert.Equal(t, []string{"VAL23-05", "VAL23-10"}, p.FailedTests)
	assert.Empty(t, p.WarnedTests)
	require.Len(t, p.Configuration, 2)
	assert.Equal(t, map[string]string{"gitCommit": r.Provenance.GitRevision}, p.Configuration[0].Digest)
	assert.Equal(t, "edged", p.Configuration[1].Name)

	// The library reads it back and agrees.
	st, pred, err := ParseAttestation(data)
	require.NoError(t, err)
	assert.True(t, attests(st, manifest))
	assert.Equal(t, "FAILED", pred.GetResult())

	// Rendering is stable: the same report gives the same bytes.
	again, err := Attestation(r, manifest, "file:///runs/x/report.json")
	require.NoError(t, err)
	assert.Equal(t, string(data), string(again))
}

func TestAttestation_AllPassIsPassed(t *testing.T) {
	r := sampleReport()
	for i := range r.Checks {
		r.Checks[i].Status = Pass
	}
	data, err := Attestation(r, hex.EncodeToString(make([]byte, 32)), "u")
	require.NoError(t, err)
	_, pred, err := ParseAttestation(data)
	require.NoError(t, err)
	assert.Equal(t, ResultPassed, pred.GetResult())
	assert.Len(t, pred.GetPassedTests(), 10)
	assert.Empty(t, pred.GetFailedTests())
}

func TestParseAttestation_RefusesOtherStatements(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":        "{",
		"old type":        `{"_type":"https://example.com/x","subject":[{"name":"m","digest":{"sha256":"` + hex.EncodeToString(make([]byte, 32)) + `"}}],"predicateType":"` + TestResultPredicateType + `","predicate":{}}`,
		"other predicate": `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"m","digest":{"sha256":"` + hex.EncodeToString(make([]byte, 32)) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`,
		"no subject":      `{"_type":"https://in-toto.io/Statement/v1","predicateType":"` + TestResultPredicateType + `","predicate":{}}`,
	} {
		_, _, err := ParseAttestation([]byte(doc))
		assert.Error(t, err, name)
	}
}

func sealedTree(t *testing.T, opt SealOptions) string {
	t.Helper()
	dir := evidenceTree(t)
	require.NoError(t, Seal(dir, sampleReport(), opt))
	return dir
}

func TestSeal_VerifiesUntilSomethingChanges(t *testing.T) {
	privPath, pubPath := writeKeys(t)
	priv, err := ReadSigningKey(privPath)
	require.NoError(t, err)
	pub, err := ReadVerifyKey(pubPath)
	require.NoError(t, err)
	_, otherPubPath := writeKeys(t)
	otherPub, err := ReadVerifyKey(otherPubPath)
	require.NoError(t, err)

	tests := []struct {
		name    string
		signed  bool
		key     ed25519.PublicKey
		tamper  func(t *testing.T, dir string)
		want    Verification
		problem string
	}{
		{name: "unsigned, no key", want: Verification{Manifest: VerifyMatched, Attestation: VerifyMatched, Signature: VerifyAbsent}},
		{name: "signed, no key", signed: true, want: Verification{Manifest: VerifyMatched, Attestation: VerifyMatched, Signature: VerifyUnchecked}},
		{name: "signed, right key", signed: true, key: pub, want: Verification{Manifest: VerifyMatched, Attestation: VerifyMatched, Signature: VerifyVerified}},
		{name: "signed, wrong key", signed: true, key: otherPub,
			want:    Verification{Manifest: VerifyMatched, Attestation: VerifyMatched, Signature: VerifyInvalid},
			problem: "signature invalid: attestation.intoto.json.sig does not verify attestation.intoto.json with the key given"},
		{name: "unsigned, key asks for one", key: pub,
			want:    Verification{Manifest: VerifyMatched, Attestation: VerifyMatched, Signature: VerifyAbsent},
			problem: "signature missing: attestation.intoto.json.sig is absent and EDGELAB_VERIFY_KEY asks for one"},
		{name: "attestation edited, signature no longer verifies", signed: true, key: pub,
			tamper: func(t *testing.T, dir string) {
				p := filepath.Join(dir, AttestationFile)
				data, err := os.ReadFile(p)
				require.NoError(t, err)
				require.NoError(t, os.WriteFile(p, append(data, ' '), 0o644))
			},
			want:    Verification{Manifest: VerifyMatched, Attestation: VerifyMatched, Signature: VerifyInvalid},
			problem: "signature invalid: attestation.intoto.json.sig does not verify attestation.intoto.json with the key given"},
		{name: "a file changed", tamper: func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "report.txt"), []byte("Overall: PASS=2 FAIL=0\n"), 0o644))
		},
			want:    Verification{Manifest: VerifyMismatched, Changed: []string{"report.txt"}, Attestation: VerifyMatched, Signature: VerifyAbsent},
			problem: "evidence altered: report.txt changed"},
		{name: "manifest rewritten to bless a change", tamper: func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "report.txt"), []byte("Overall: PASS=2 FAIL=0\n"), 0o644))
			_, err := WriteManifest(dir)
			require.NoError(t, err)
		},
			want:    Verification{Manifest: VerifyMatched, Attestation: VerifyMismatched, Signature: VerifyAbsent},
			problem: "evidence altered: attestation.intoto.json does not attest this manifest.sha256"},
		{name: "attestation removed", tamper: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, AttestationFile)))
		},
			want:    Verification{Manifest: VerifyMatched, Attestation: VerifyAbsent, Signature: VerifyAbsent},
			problem: "evidence altered: attestation.intoto.json missing"},
		{name: "manifest removed", tamper: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, ManifestFile)))
		},
			want:    Verification{Manifest: VerifyAbsent, Attestation: VerifyMismatched, Signature: VerifyAbsent},
			problem: "evidence unverifiable: no manifest.sha256; evidence altered: attestation.intoto.json does not attest this manifest.sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opt := SealOptions{ReportURI: "file:///x/report.json"}
			if tt.signed {
				opt.SigningKey = priv
			}
			dir := sealedTree(t, opt)
			if tt.tamper != nil {
				tt.tamper(t, dir)
			}
			got, err := VerifySeal(dir, tt.key)
			require.NoError(t, err)
			tt.want.Problem = tt.problem
			if tt.want.Manifest != VerifyAbsent {
				m, err := os.ReadFile(filepath.Join(dir, ManifestFile))
				require.NoError(t, err)
				sum := sha256.Sum256(m)
				tt.want.ManifestSHA256, tt.want.Files = hex.EncodeToString(sum[:]), 6
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("VerifySeal (-want +got):\n%s", diff)
			}
		})
	}
}

// Sealing again without a key drops the earlier signature: it would sign
// an attestation that no longer exists.
func TestSeal_UnsignedResealRemovesAStaleSignature(t *testing.T) {
	privPath, _ := writeKeys(t)
	priv, err := ReadSigningKey(privPath)
	require.NoError(t, err)
	dir := sealedTree(t, SealOptions{SigningKey: priv})
	require.FileExists(t, filepath.Join(dir, SignatureFile))
	require.NoError(t, Seal(dir, sampleReport(), SealOptions{}))
	assert.NoFileExists(t, filepath.Join(dir, SignatureFile))
}

func TestReadKeys_RefuseOtherKinds(t *testing.T) {
	privPath, pubPath := writeKeys(t)
	_, err := ReadSigningKey(pubPath)
	assert.Error(t, err)
	_, err = ReadVerifyKey(privPath)
	assert.Error(t, err)
	_, err = ReadVerifyKey(filepath.Join(t.TempDir(), "none"))
	assert.Error(t, err)
	notPEM := filepath.Join(t.TempDir(), "k")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	_, err = ReadSigningKey(notPEM)
	assert.ErrorContains(t, err, "no PEM block")
}

// Keys made with openssl as DESIGN.md says sign, and openssl verifies the
// signature the lab wrote: a reviewer needs nothing of ours.
func TestSeal_InteroperatesWithOpenSSL(t *testing.T) {
	tool, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	keys := t.TempDir()
	priv, pub := filepath.Join(keys, "key.pem"), filepath.Join(keys, "pub.pem")
	for _, args := range [][]string{
		{"genpkey", "-algorithm", "ed25519", "-out", priv},
		{"pkey", "-in", priv, "-pubout", "-out", pub},
	} {
		out, err := exec.Command(tool, args...).CombinedOutput()
		require.NoError(t, err, "openssl %v: %s", args, out)
	}
	key, err := ReadSigningKey(priv)
	require.NoError(t, err)
	verify, err := ReadVerifyKey(pub)
	require.NoError(t, err)
	dir := sealedTree(t, SealOptions{SigningKey: key})
	v, err := VerifySeal(dir, verify)
	require.NoError(t, err)
	assert.Equal(t, VerifyVerified, v.Signature)

	sig, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	require.NoError(t, err)
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	require.NoError(t, err)
	sigBin := filepath.Join(keys, "sig.bin")
	require.NoError(t, os.WriteFile(sigBin, raw, 0o644))
	cmd := exec.Command(tool, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", filepath.Join(dir, AttestationFile), "-sigfile", sigBin)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "openssl pkeyutl -verify: %s", out)
	assert.Contains(t, string(out), "Signature Verified Successfully")
}

// An unsigned attestation still cannot be edited to claim another result:
// the manifest protects report.json, and the predicate must agree with it.
func TestVerifySeal_AnAttestationMustAgreeWithTheReport(t *testing.T) {
	for name, edit := range map[string][2]string{
		"result":      {`"result": "FAILED"`, `"result": "PASSED"`},
		"failedTests": {`"VAL23-05",`, ``},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			r := sampleReport() // 8 PASS, 1 FAIL, 1 ERROR
			require.NoError(t, WriteReport(dir, r))
			require.NoError(t, Seal(dir, r, SealOptions{}))
			v, err := VerifySeal(dir, nil)
			require.NoError(t, err)
			require.Empty(t, v.Problem)

			p := filepath.Join(dir, AttestationFile)
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			require.Contains(t, string(data), edit[0])
			require.NoError(t, os.WriteFile(p, []byte(strings.Replace(string(data), edit[0], edit[1], 1)), 0o644))
			v, err = VerifySeal(dir, nil)
			require.NoError(t, err)
			assert.Equal(t, VerifyMismatched, v.Attestation)
			assert.Contains(t, v.Problem, "evidence altered: attestation.intoto.json disagrees with report.json: ")
		})
	}
}
