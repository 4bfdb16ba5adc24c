package evidence

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File names of what seals an evidence directory.
const (
	// ManifestFile lists the sha256 of every file of the directory in the
	// format `sha256sum -c` reads.
	ManifestFile = "manifest.sha256"
	// AttestationFile is an in-toto Statement whose subject is the
	// manifest; SignatureFile its optional detached ed25519 signature.
	AttestationFile = "attestation.intoto.json"
	SignatureFile   = AttestationFile + ".sig"
)

// sealFiles are the files the manifest does not list: itself, and what
// depends on its digest (the attestation names the manifest's digest as its
// subject, the signature signs the attestation), which could not be listed
// without a cycle. The attestation is verified through its subject instead.
var sealFiles = []string{ManifestFile, AttestationFile, SignatureFile}

// ManifestEntry is one line of manifest.sha256.
type ManifestEntry struct {
	// Path is relative to the evidence directory, with slashes.
	Path   string
	SHA256 string // lower-case hex
}

// BuildManifest hashes every regular file under dir (symlinks followed to
// a regular file), but the seal files at its top, sorted by path. Dot files
// are included: nothing in the directory goes unlisted.
func BuildManifest(dir string) ([]ManifestEntry, error) {
	// A directory named through a symlink (evidence/latest) is walked as
	// the directory it names, not as one file.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	var out []ManifestEntry
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if slices.Contains(sealFiles, rel) {
			return nil
		}
		if !d.Type().IsRegular() {
			// A symlink counts as what it points at, as sha256sum reads it;
			// anything else (a socket, a fifo) has no content to hash.
			info, err := os.Stat(path)
			if err != nil || !info.Mode().IsRegular() {
				return nil
			}
		}
		sum, err := hashFile(path)
		if err != nil {
			return err
		}
		out = append(out, ManifestEntry{Path: rel, SHA256: sum})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("manifest of %s: %w", dir, err)
	}
	slices.SortFunc(out, func(a, b ManifestEntry) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// FormatManifest renders entries as sha256sum prints them: "<hex>  <path>"
// (two spaces: text mode). A name holding a backslash or a newline is
// escaped as GNU sha256sum does, with a leading backslash on the line.
func FormatManifest(entries []ManifestEntry) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		name := e.Path
		if strings.ContainsAny(name, "\\\n\r") {
			name = strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\r", `\r`).Replace(name)
			b.WriteByte('\\')
		}
		fmt.Fprintf(&b, "%s  %s\n", e.SHA256, name)
	}
	return b.Bytes()
}

// ParseManifest reads manifest.sha256 content.
func ParseManifest(data []byte) ([]ManifestEntry, error) {
	var out []ManifestEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" {
			continue
		}
		escaped := strings.HasPrefix(line, `\`)
		if escaped {
			line = line[1:]
		}
		sum, name, ok := strings.Cut(line, " ")
		if !ok || len(sum) != sha256.Size*2 || len(name) < 2 || (name[0] != ' ' && name[0] != '*') {
			return nil, fmt.Errorf("%s line %d: not `<sha256>  <path>`", ManifestFile, n)
		}
		if _, err := hex.DecodeString(sum); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", ManifestFile, n, err)
		}
		name = name[1:]
		if escaped {
			name = strings.NewReplacer(`\\`, `\`, `\n`, "\n", `\r`, "\r").Replace(name)
		}
		out = append(out, ManifestEntry{Path: name, SHA256: strings.ToLower(sum)})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", ManifestFile, err)
	}
	return out, nil
}

// WriteManifest writes dir/manifest.sha256 over the directory as it is
// now and returns the manifest's own sha256 (the attestation's subject).
func WriteManifest(dir string) (string, error) {
	entries, err := BuildManifest(dir)
	if err != nil {
		return "", err
	}
	data := FormatManifest(entries)
	if err := WriteFile(filepath.Join(dir, ManifestFile), data); err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// ErrNoManifest means the directory has no manifest.sha256: written before
// manifests existed, or the manifest was removed.
var ErrNoManifest = errors.New("no " + ManifestFile)

// ManifestCheck is what comparing a directory with its manifest found.
type ManifestCheck struct {
	// SHA256 is the digest of manifest.sha256 itself.
	SHA256 string
	// Files is how many files the manifest lists.
	Files int
	// Changed are listed files whose content differs, Missing listed files
	// that are gone, Added files the manifest does not list.
	Changed, Missing, Added []string
}

// OK reports that the directory is exactly what the manifest lists.
func (m ManifestCheck) OK() bool {
	return len(m.Changed) == 0 && len(m.Missing) == 0 && len(m.Added) == 0
}

// Problem names every file that differs, as "S-B/peer-evidence.json
// changed; S-A/audit.jsonl missing; S-C/extra added"; empty when OK.
func (m ManifestCheck) Problem() string {
	var parts []string
	for _, group := range []struct {
		files []string
		how   string
	}{{m.Changed, "changed"}, {m.Missing, "missing"}, {m.Added, "added"}} {
		for _, f := range group.files {
			parts = append(parts, f+" "+group.how)
		}
	}
	return strings.Join(parts, "; ")
}

// CheckManifest compares dir with its manifest.sha256. The error is
// ErrNoManifest (wrapped) when there is none, or says why it cannot be read;
// a mismatch is not an error but a ManifestCheck that is not OK.
func CheckManifest(dir string) (ManifestCheck, error) {
	data, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ManifestCheck{}, fmt.Errorf("%s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return ManifestCheck{}, fmt.Errorf("read manifest: %w", err)
	}
	listed, err := ParseManifest(data)
	if err != nil {
		return ManifestCheck{}, err
	}
	sum := sha256.Sum256(data)
	m := ManifestCheck{SHA256: hex.EncodeToString(sum[:]), Files: len(listed)}
	now, err := BuildManifest(dir)
	if err != nil {
		return m, err
	}
	have := make(map[string]string, len(now))
	for _, e := range now {
		have[e.Path] = e.SHA256
	}
	seen := make(map[string]bool, len(listed))
	for _, e := range listed {
		seen[e.Path] = true
		got, ok := have[e.Path]
		switch {
		case !ok:
			m.Missing = append(m.Missing, e.Path)
		case got != e.SHA256:
			m.Changed = append(m.Changed, e.Path)
		}
	}
	for _, e := range now {
		if !seen[e.Path] {
			m.Added = append(m.Added, e.Path)
		}
	}
	slices.Sort(m.Changed)
	slices.Sort(m.Missing)
	return m, nil
}
