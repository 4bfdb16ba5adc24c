package evidence

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// DefaultDir is where a lab's evidence goes when no directory is named:
// evidence/<name>-<YYYY-MM-DD> under the module root.
func DefaultDir(moduleRoot, name string, day time.Time) string {
	return filepath.Join(moduleRoot, "evidence", fmt.Sprintf("%s-%s", name, day.Format(time.DateOnly)))
}

// maxSuffix bounds the search for a free directory name, so a broken
// filesystem cannot make Allocate spin.
const maxSuffix = 1000

// Allocate creates the evidence directory for a run. Evidence is never
// mixed with an earlier run's: when want exists and is not an empty
// directory, the first free "-2", "-3", … sibling is created instead.
// moved reports that the returned path differs from want.
func Allocate(want string) (dir string, moved bool, err error) {
	want, err = filepath.Abs(want)
	if err != nil {
		return "", false, fmt.Errorf("evidence dir %s: %w", want, err)
	}
	// A file where the directory should be is a mistake (a README.md
	// given as the directory), not a name to move away from.
	if info, err := os.Stat(want); err == nil && !info.IsDir() {
		return "", false, fmt.Errorf("evidence dir %s: exists and is not a directory", want)
	}
	if err := os.MkdirAll(filepath.Dir(want), 0o755); err != nil {
		return "", false, fmt.Errorf("evidence dir: %w", err)
	}
	for n := 1; n <= maxSuffix; n++ {
		candidate := want
		if n > 1 {
			candidate = fmt.Sprintf("%s-%d", want, n)
		}
		// Mkdir, not MkdirAll: it fails when the name is taken, so two runs
		// racing for the same name cannot both get it.
		err := os.Mkdir(candidate, 0o755)
		if err == nil {
			return candidate, n > 1, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", false, fmt.Errorf("evidence dir: %w", err)
		}
		if n == 1 {
			empty, err := isEmptyDir(candidate)
			if err != nil {
				return "", false, fmt.Errorf("evidence dir: %w", err)
			}
			if empty {
				return candidate, false, nil
			}
		}
	}
	return "", false, fmt.Errorf("evidence dir %s: no free name up to suffix -%d", want, maxSuffix)
}

func isEmptyDir(path string) (bool, error) {
	info, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	if !info.IsDir() {
		return false, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); errors.Is(err, io.EOF) {
		return true, nil
	} else if err != nil {
		return false, err
	}
	return false, nil
}

// File names of the rendered report inside an evidence directory.
const (
	ReportJSON      = "report.json"
	ReportText      = "report.txt"
	JUnitXML        = "junit.xml"
	EnvironmentFile = "environment.json"
)

// WriteReport writes report.json first, then renders report.txt, junit.xml,
// environment.json and index.html from it. A rendering failure leaves report.json in
// place.
func WriteReport(dir string, r Report) error {
	r.Schema = SchemaVersion
	r.Summarize()
	data, err := marshal(r)
	if err != nil {
		return fmt.Errorf("report.json: %w", err)
	}
	if err := WriteFile(filepath.Join(dir, ReportJSON), data); err != nil {
		return err
	}
	junit, err := JUnit(r)
	if err != nil {
		return err
	}
	env, err := EnvironmentJSON(r)
	if err != nil {
		return err
	}
	html, err := HTML(r)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		ReportText:      []byte(Text(r)),
		JUnitXML:        junit,
		EnvironmentFile: env,
		IndexHTML:       html,
	} {
		if err := WriteFile(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes data to path atomically (temp file + rename), so a
// reader or a crash never leaves a torn evidence file.
func WriteFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteJSON writes v as indented JSON to path, atomically.
func WriteJSON(path string, v any) error {
	data, err := marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return WriteFile(path, data)
}

// ReadJSON decodes the JSON file at path into v.
func ReadJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// CopyFile copies src to dst (atomically at dst).
func CopyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	return WriteFile(dst, data)
}

// LatestLink is the name of the symlink to the newest run, beside the
// runs in <module>/evidence.
const LatestLink = "latest"

// UpdateLatest points <root>/evidence/latest at dir, a run just written,
// when dir is directly under <root>/evidence (the default place, or one
// named there such as evidence/nightly); runs elsewhere leave it alone. The
// link is relative, so it survives moving the checkout, and is replaced
// atomically. A "latest" that is not a symlink is someone's file and is
// never touched.
func UpdateLatest(root, dir string) error {
	base := filepath.Join(root, "evidence")
	if filepath.Dir(filepath.Clean(dir)) != filepath.Clean(base) {
		return nil
	}
	link := filepath.Join(base, LatestLink)
	if fi, err := os.Lstat(link); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return fmt.Errorf("%s exists and is not a symlink; not updating it", link)
	}
	tmp := fmt.Sprintf("%s.tmp-%d", link, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(dir), tmp); err != nil {
		return fmt.Errorf("update %s: %w", link, err)
	}
	if err := os.Rename(tmp, link); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("update %s: %w", link, err)
	}
	return nil
}
