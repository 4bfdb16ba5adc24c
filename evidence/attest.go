package evidence

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	testresult "github.com/in-toto/attestation/go/predicates/test_result/v0"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// TestResultPredicateType is the in-toto test-result predicate the
// attestation carries.
const TestResultPredicateType = "https://in-toto.io/attestation/test-result/v0.1"

// Test-result predicate results.
const (
	ResultPassed = "PASSED"
	ResultWarned = "WARNED"
	ResultFailed = "FAILED"
)

// Environment variables that sign a run and verify its signature.
const (
	// EnvSigningKey names an ed25519 private key file (PEM, PKCS#8): when
	// set, the lab and --check-only sign attestation.intoto.json.
	EnvSigningKey = "EDGELAB_SIGNING_KEY"
	// EnvVerifyKey names an ed25519 public key file (PEM, PKIX): when set,
	// --check-only requires a signature that verifies with it.
	EnvVerifyKey = "EDGELAB_VERIFY_KEY"
)

// Attestation builds the in-toto Statement v1 of a report whose manifest
// has digest manifestSHA256: the subject is manifest.sha256 (which lists
// every other file, report.json included), the predicate a test result
// listing the checks passed and failed. An ERROR check is listed as
// failed: it did not pass. reportURI is where the report can be found.
func Attestation(r Report, manifestSHA256, reportURI string) ([]byte, error) {
	pred := &testresult.TestResult{Result: ResultPassed, Url: reportURI}
	for _, c := range r.Checks {
		if c.Status == Pass {
			pred.PassedTests = append(pred.PassedTests, c.ID)
		} else {
			pred.FailedTests = append(pred.FailedTests, c.ID)
		}
	}
	if r.ExitCode() != 0 {
		pred.Result = ResultFailed
	}
	pred.Configuration = configuration(r)
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("attestation predicate: %w", err)
	}
	var predicate structpb.Struct
	if err := protojson.Unmarshal(predJSON, &predicate); err != nil {
		return nil, fmt.Errorf("attestation predicate: %w", err)
	}
	st := &intoto.Statement{
		Type: intoto.StatementTypeUri,
		Subject: []*intoto.ResourceDescriptor{{
			Name:   ManifestFile,
			Digest: map[string]string{"sha256": manifestSHA256},
		}},
		PredicateType: TestResultPredicateType,
		Predicate:     &predicate,
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	// protojson varies its whitespace on purpose; the file is indented
	// the one way encoding/json does it, so a re-render is byte-identical.
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return nil, fmt.Errorf("attestation: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

var gitRevision = regexp.MustCompile(`^[0-9a-f]{40}$`)

// configuration is what the checks ran with: the lab's code at its
// revision and the binaries that ran.
func configuration(r Report) []*intoto.ResourceDescriptor {
	var out []*intoto.ResourceDescriptor
	p := r.Provenance
	lab := &intoto.ResourceDescriptor{Name: "edgelab " + r.Lab}
	if gitRevision.MatchString(p.GitRevision) {
		lab.Digest = map[string]string{"gitCommit": p.GitRevision}
	}
	if len(p.CommandLine) > 0 {
		lab.Annotations, _ = structpb.NewStruct(map[string]any{"command_line": strings.Join(p.CommandLine, " "), "git_dirty": p.GitDirty})
	}
	out = append(out, lab)
	for _, b := range p.Binaries {
		if b.SHA256 == "" {
			continue
		}
		out = append(out, &intoto.ResourceDescriptor{Name: b.Name, Digest: map[string]string{"sha256": b.SHA256}})
	}
	return out
}

// ReportURI is the report's address for the attestation: $EDGELAB_REPORT_URI
// when set (e.g. the CI artifact's address), else report.json as a file URI.
func ReportURI(dir string) string {
	if u := os.Getenv("EDGELAB_REPORT_URI"); u != "" {
		return u
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(filepath.Join(dir, ReportJSON))}).String()
}

// ParseAttestation decodes and validates an attestation.intoto.json: an
// in-toto Statement v1 with the test-result predicate.
func ParseAttestation(data []byte) (*intoto.Statement, *testresult.TestResult, error) {
	var st intoto.Statement
	if err := protojson.Unmarshal(data, &st); err != nil {
		return nil, nil, fmt.Errorf("decode %s: %w", AttestationFile, err)
	}
	if err := st.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", AttestationFile, err)
	}
	if st.GetType() != intoto.StatementTypeUri {
		return nil, nil, fmt.Errorf("%s: _type %q, want %q", AttestationFile, st.GetType(), intoto.StatementTypeUri)
	}
	if st.GetPredicateType() != TestResultPredicateType {
		return nil, nil, fmt.Errorf("%s: predicateType %q, want %q", AttestationFile, st.GetPredicateType(), TestResultPredicateType)
	}
	predJSON, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, nil, fmt.Errorf("%s predicate: %w", AttestationFile, err)
	}
	var pred testresult.TestResult
	if err := protojson.Unmarshal(predJSON, &pred); err != nil {
		return nil, nil, fmt.Errorf("%s predicate: %w", AttestationFile, err)
	}
	return &st, &pred, nil
}

// ReadSigningKey loads an ed25519 private key from a PEM PKCS#8 file.
func ReadSigningKey(path string) (ed25519.PrivateKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", path, err)
	}
	priv, ok := key.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key %s: a %T, want an ed25519 key", path, key)
	}
	return priv, nil
}

// ReadVerifyKey loads an ed25519 public key from a PEM (PKIX) file.
func ReadVerifyKey(path string) (ed25519.PublicKey, error) {
	block, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("verify key %s: %w", path, err)
	}
	pub, ok := key.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("verify key %s: a %T, want an ed25519 key", path, key)
	}
	return pub, nil
}

func readPEM(path string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("key %s: no PEM block", path)
	}
	return block, nil
}

// SignAttestation is the detached signature file of an attestation: the
// ed25519 signature of its exact bytes, base64, one line.
func SignAttestation(key ed25519.PrivateKey, attestation []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(key, attestation)) + "\n")
}

// VerifyAttestationSignature checks a signature file's content against the
// attestation's bytes.
func VerifyAttestationSignature(key ed25519.PublicKey, attestation, sig []byte) error {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sig)))
	if err != nil {
		return fmt.Errorf("%s: not base64: %w", SignatureFile, err)
	}
	if !ed25519.Verify(key, attestation, raw) {
		return fmt.Errorf("%s does not verify %s with the key given", SignatureFile, AttestationFile)
	}
	return nil
}

// SealOptions say how Seal signs.
type SealOptions struct {
	// ReportURI is the predicate's url; empty means ReportURI(dir).
	ReportURI string
	// SigningKey, when set, signs the attestation; nil leaves it unsigned
	// (and removes a signature of an earlier attestation, which would no
	// longer verify).
	SigningKey ed25519.PrivateKey
}

// Seal ends the writing of an evidence directory: manifest.sha256 over
// every file, then attestation.intoto.json naming the manifest's digest,
// then, with a key, its signature. Nothing may be written into dir after
// it, or the manifest no longer matches.
func Seal(dir string, r Report, opt SealOptions) error {
	sum, err := WriteManifest(dir)
	if err != nil {
		return err
	}
	uri := opt.ReportURI
	if uri == "" {
		uri = ReportURI(dir)
	}
	att, err := Attestation(r, sum, uri)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, AttestationFile), att); err != nil {
		return err
	}
	sigPath := filepath.Join(dir, SignatureFile)
	if opt.SigningKey == nil {
		if err := os.Remove(sigPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale signature: %w", err)
		}
		return nil
	}
	return WriteFile(sigPath, SignAttestation(opt.SigningKey, att))
}

// Seal verification outcomes, as the re-check records them.
const (
	VerifyMatched    = "matched"
	VerifyMismatched = "mismatched"
	VerifyAbsent     = "absent"
	VerifyInvalid    = "invalid"
	VerifyVerified   = "verified"
	// VerifyUnchecked: a signature is there but no key was given.
	VerifyUnchecked = "unchecked"
)

// Verification is what --check-only verified of a directory's seal before
// re-checking it: its manifest, the attestation of the manifest, the
// signature of the attestation.
type Verification struct {
	// Manifest is matched, mismatched, absent or invalid; ManifestSHA256
	// its digest, Files how many files it lists.
	Manifest       string `json:"manifest"`
	ManifestSHA256 string `json:"manifest_sha256,omitempty"`
	Files          int    `json:"files"`
	// Changed, Missing and Added name the files that differ from it.
	Changed []string `json:"changed,omitempty"`
	Missing []string `json:"missing,omitempty"`
	Added   []string `json:"added,omitempty"`
	// Attestation is matched (its subject is this manifest), mismatched,
	// absent or invalid.
	Attestation string `json:"attestation"`
	// Signature is verified, invalid, absent or unchecked (no key given).
	Signature string `json:"signature"`
	// Problem is the ERROR the seal amounts to ("evidence altered: …");
	// empty when everything verified.
	Problem string `json:"problem,omitempty"`
	// Ignored says the re-check went on despite Problem
	// (--ignore-manifest).
	Ignored bool `json:"ignored,omitempty"`
}

// VerifySeal checks dir against its manifest, the attestation against the
// manifest and, when key is set, the attestation's signature. Problems
// are findings in the Verification; the error is for what stopped the
// verification itself (an unreadable directory).
func VerifySeal(dir string, key ed25519.PublicKey) (Verification, error) {
	var v Verification
	var problems []string
	m, err := CheckManifest(dir)
	switch {
	case errors.Is(err, ErrNoManifest):
		v.Manifest = VerifyAbsent
		problems = append(problems, "evidence unverifiable: no "+ManifestFile)
	case err != nil && m.SHA256 == "":
		v.Manifest = VerifyInvalid
		problems = append(problems, "evidence altered: "+err.Error())
	case err != nil:
		return v, err
	default:
		v.ManifestSHA256, v.Files = m.SHA256, m.Files
		v.Changed, v.Missing, v.Added = m.Changed, m.Missing, m.Added
		v.Manifest = VerifyMatched
		if !m.OK() {
			v.Manifest = VerifyMismatched
			problems = append(problems, "evidence altered: "+m.Problem())
		}
	}

	att, err := os.ReadFile(filepath.Join(dir, AttestationFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.Attestation = VerifyAbsent
		if v.Manifest != VerifyAbsent {
			problems = append(problems, "evidence altered: "+AttestationFile+" missing")
		}
	case err != nil:
		return v, fmt.Errorf("read attestation: %w", err)
	default:
		st, pred, perr := ParseAttestation(att)
		switch {
		case perr != nil:
			v.Attestation = VerifyInvalid
			problems = append(problems, "evidence altered: "+perr.Error())
		case v.ManifestSHA256 == "" || !attests(st, v.ManifestSHA256):
			v.Attestation = VerifyMismatched
			problems = append(problems, "evidence altered: "+AttestationFile+" does not attest this "+ManifestFile)
		default:
			v.Attestation = VerifyMatched
			// The manifest protects report.json; the predicate must say
			// what it says, or an unsigned attestation could be edited.
			if r, err := ReadReport(filepath.Join(dir, ReportJSON)); err == nil {
				if why := disagreement(pred, r); why != "" {
					v.Attestation = VerifyMismatched
					problems = append(problems, "evidence altered: "+AttestationFile+" disagrees with "+ReportJSON+": "+why)
				}
			}
		}
	}

	sig, err := os.ReadFile(filepath.Join(dir, SignatureFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		v.Signature = VerifyAbsent
		if key != nil {
			problems = append(problems, "signature missing: "+SignatureFile+" is absent and "+EnvVerifyKey+" asks for one")
		}
	case err != nil:
		return v, fmt.Errorf("read signature: %w", err)
	case key == nil:
		v.Signature = VerifyUnchecked
	default:
		v.Signature = VerifyVerified
		if err := VerifyAttestationSignature(key, att, sig); err != nil {
			v.Signature = VerifyInvalid
			problems = append(problems, "signature invalid: "+err.Error())
		}
	}
	v.Problem = strings.Join(problems, "; ")
	return v, nil
}

// disagreement says how a test-result predicate differs from what the
// report's checks amount to; empty when it does not.
func disagreement(pred *testresult.TestResult, r Report) string {
	want, err := Attestation(r, strings.Repeat("0", 64), pred.GetUrl())
	if err != nil {
		return err.Error()
	}
	_, w, err := ParseAttestation(want)
	if err != nil {
		return err.Error()
	}
	switch {
	case pred.GetResult() != w.GetResult():
		return fmt.Sprintf("result %s, the report's checks make it %s", pred.GetResult(), w.GetResult())
	case !slices.Equal(pred.GetPassedTests(), w.GetPassedTests()):
		return fmt.Sprintf("passedTests %v, the report's %v", pred.GetPassedTests(), w.GetPassedTests())
	case !slices.Equal(pred.GetFailedTests(), w.GetFailedTests()):
		return fmt.Sprintf("failedTests %v, the report's %v", pred.GetFailedTests(), w.GetFailedTests())
	case !slices.Equal(pred.GetWarnedTests(), w.GetWarnedTests()):
		return fmt.Sprintf("warnedTests %v, the report's %v", pred.GetWarnedTests(), w.GetWarnedTests())
	}
	return ""
}

func attests(st *intoto.Statement, manifestSHA256 string) bool {
	for _, s := range st.GetSubject() {
		if s.GetName() == ManifestFile && strings.EqualFold(s.GetDigest()["sha256"], manifestSHA256) {
			return true
		}
	}
	return false
}
