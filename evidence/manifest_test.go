package evidence

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// evidenceTree writes a small evidence directory: report files at the top,
// scenario files below, a dot file too.
func evidenceTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"report.json":            `{"schema":"x"}`,
		"report.txt":             "Overall: PASS=1 FAIL=0\n",
		"S-A/peer-evidence.json": `{"segments":[]}`,
		"S-A/edged.log":          "started\n",
		"S-B/sub/deep.txt":       "deep\n",
		"S-B/.hidden":            "dot files are evidence too\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

func TestWriteManifest_ListsEveryFileSortedButTheSeal(t *testing.T) {
	dir := evidenceTree(t)
	// Seal files of an earlier seal are not listed.
	require.NoError(t, os.WriteFile(filepath.Join(dir, AttestationFile), []byte("{}"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, SignatureFile), []byte("x"), 0o644))
	_, err := WriteManifest(dir)
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	require.NoError(t, err)

	var paths []string
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		sum, path, ok := strings.Cut(line, "  ")
		require.True(t, ok, "line %q is not `<hex>  <path>`", line)
		assert.Len(t, sum, 64)
		paths = append(paths, path)
	}
	want := []string{"S-A/edged.log", "S-A/peer-evidence.json", "S-B/.hidden", "S-B/sub/deep.txt", "report.json", "report.txt"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("manifest paths (-want +got):\n%s", diff)
	}
	sum := sha256.Sum256([]byte("started\n"))
	assert.Contains(t, string(data), hex.EncodeToString(sum[:])+"  S-A/edged.log\n")
}

// The format is the one sha256sum -c reads: checked with the real tool
// where it is installed.
func TestWriteManifest_SHA256SumAcceptsIt(t *testing.T) {
	tool, err := exec.LookPath("sha256sum")
	if err != nil {
		t.Skip("sha256sum not installed")
	}
	dir := evidenceTree(t)
	_, err = WriteManifest(dir)
	require.NoError(t, err)
	cmd := exec.Command(tool, "--strict", "-c", ManifestFile)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "sha256sum -c:\n%s", out)
	assert.Contains(t, string(out), "S-B/sub/deep.txt: OK")

	// And it fails on the same tampering CheckManifest names.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "S-A", "edged.log"), []byte("startee\n"), 0o644))
	cmd = exec.Command(tool, "-c", ManifestFile)
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "S-A/edged.log: FAILED")
}

func TestFormatManifest_RoundTripsOddNames(t *testing.T) {
	entries := []ManifestEntry{
		{Path: "a b/c.json", SHA256: strings.Repeat("ab", 32)},
		{Path: `back\slash`, SHA256: strings.Repeat("01", 32)},
		{Path: "new\nline", SHA256: strings.Repeat("ff", 32)},
	}
	data := FormatManifest(entries)
	assert.Contains(t, string(data), `\`+strings.Repeat("01", 32)+`  back\\slash`+"\n")
	got, err := ParseManifest(data)
	require.NoError(t, err)
	if diff := cmp.Diff(entries, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestParseManifest_RefusesGarbage(t *testing.T) {
	for _, in := range []string{"not a manifest\n", strings.Repeat("z", 64) + "  f\n", strings.Repeat("a", 63) + "  f\n", strings.Repeat("a", 64) + " f\n"} {
		_, err := ParseManifest([]byte(in))
		assert.Error(t, err, "%q", in)
	}
}

func TestCheckManifest_NamesAlteredMissingAndAddedFiles(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   ManifestCheck
		text   string
	}{
		{"untouched", func(*testing.T, string) {}, ManifestCheck{}, ""},
		{"one byte changed", func(t *testing.T, dir string) {
			p := filepath.Join(dir, "S-A", "peer-evidence.json")
			data, err := os.ReadFile(p)
			require.NoError(t, err)
			data[2]++
			require.NoError(t, os.WriteFile(p, data, 0o644))
		}, ManifestCheck{Changed: []string{"S-A/peer-evidence.json"}}, "S-A/peer-evidence.json changed"},
		{"missing", func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "S-B", "sub", "deep.txt")))
		}, ManifestCheck{Missing: []string{"S-B/sub/deep.txt"}}, "S-B/sub/deep.txt missing"},
		{"added", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "S-A", "extra.json"), nil, 0o644))
		}, ManifestCheck{Added: []string{"S-A/extra.json"}}, "S-A/extra.json added"},
		{"all three", func(t *testing.T, dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "report.txt"), []byte("Overall: PASS=1 FAIL=1\n"), 0o644))
			require.NoError(t, os.Remove(filepath.Join(dir, "S-A", "edged.log")))
			require.NoError(t, os.WriteFile(filepath.Join(dir, "zz"), nil, 0o644))
		}, ManifestCheck{Changed: []string{"report.txt"}, Missing: []string{"S-A/edged.log"}, Added: []string{"zz"}},
			"report.txt changed; S-A/edged.log missing; zz added"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := evidenceTree(t)
			sum, err := WriteManifest(dir)
			require.NoError(t, err)
			tt.tamper(t, dir)
			got, err := CheckManifest(dir)
			require.NoError(t, err)
			tt.want.SHA256, tt.want.Files = sum, 6
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.text, got.Problem())
			assert.Equal(t, tt.text == "", got.OK())
		})
	}
}

func TestCheckManifest_NoManifest(t *testing.T) {
	_, err := CheckManifest(evidenceTree(t))
	assert.ErrorIs(t, err, ErrNoManifest)
}

// Whatever a manifest holds, reading it never panics, and what it reads
// renders back to a manifest that reads the same.
func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(strings.Repeat("ab", 32) + "  S-A/edged.log\n"))
	f.Add([]byte(`\` + strings.Repeat("01", 32) + `  back\\slash` + "\n"))
	f.Add([]byte(strings.Repeat("0", 64) + " *binary\n\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseManifest(data)
		if err != nil {
			return
		}
		again, err := ParseManifest(FormatManifest(entries))
		if err != nil {
			t.Fatalf("re-reading the rendering of %q: %v", data, err)
		}
		if diff := cmp.Diff(entries, again, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip of %q (-first +again):\n%s", data, diff)
		}
	})
}
