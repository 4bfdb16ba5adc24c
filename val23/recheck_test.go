package val23

import (
	"bytes"
	"context"
	"encoding/xml"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"edgelab/evidence"
	"edgelab/peer/received"
)

// recordedRun is a real lab run's evidence directory, saved as the lab
// wrote it (all checks PASS), so --check-only is tested on what the runner
// really leaves, timestamps and all.
const recordedRun = "testdata/recorded-pass"

// recordedRunDir is where the recorded run was written.
const recordedRunDir = "/tmp/ev1"

var recheckAt = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

// copyRecorded copies the recorded run and seals it as the lab now ends
// every run (the recording predates manifests), so a re-check verifies it.
func copyRecorded(t *testing.T) string {
	t.Helper()
	dir := copyRecordedUnsealed(t)
	r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	if err := evidence.Seal(dir, r, evidence.SealOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// copyRecordedUnsealed is the recorded run as it was saved.
func copyRecordedUnsealed(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "run")
	if err := os.CopyFS(dir, os.DirFS(recordedRun)); err != nil {
		t.Fatalf("copy %s: %v", recordedRun, err)
	}
	return dir
}

func checkOnly(t *testing.T, dir string) (code int, stdout, stderr string) {
	t.Helper()
	return checkOnlyWith(t, dir, false)
}

// checkOnlyWith is --check-only, with --ignore-manifest when ignore.
func checkOnlyWith(t *testing.T, dir string, ignore bool) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	args := []string{"val23", "--check-only", dir}
	if ignore {
		args = []string{"val23", "--check-only", "--ignore-manifest", dir}
	}
	code = CheckOnly(context.Background(), CheckConfig{
		Args: args, Dir: dir, IgnoreManifest: ignore, Stdout: &out, Stderr: &errb,
		Now: func() time.Time { return recheckAt },
	})
	return code, out.String(), errb.String()
}

func readReport(t *testing.T, dir string) evidence.Report {
	t.Helper()
	r, err := evidence.ReadReport(filepath.Join(dir, evidence.ReportJSON))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestCheckOnly_RecordedRunPassesAgainWithItsProvenance(t *testing.T) {
	dir := copyRecorded(t)
	before := readReport(t, dir)
	origText := readFile(t, filepath.Join(dir, evidence.ReportText))

	code, stdout, stderr := checkOnly(t, dir)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	// The same report, found where the directory is now.
	want := strings.Replace(origText, "Evidence dir: "+recordedRunDir+"\n", "Evidence dir: "+dir+"\n", 1)
	if diff := cmp.Diff(want, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if got := readFile(t, filepath.Join(dir, evidence.ReportText)); got != stdout {
		t.Errorf("report.txt is not what was printed:\n%s", got)
	}
	if want := "val23: re-checked " + dir + " (no check changed status)\n"; stderr != want {
		t.Errorf("stderr = %q, want %q", stderr, want)
	}

	after := readReport(t, dir)
	if diff := cmp.Diff(before.Provenance, after.Provenance); diff != "" {
		t.Errorf("the run's provenance changed (-before +after):\n%s", diff)
	}
	if len(after.Rechecks) != 1 {
		t.Fatalf("%d rechecks recorded, want 1", len(after.Rechecks))
	}
	rc := after.Rechecks[0]
	if !rc.At.Equal(recheckAt) || rc.EvidenceDirWas != recordedRunDir || len(rc.Changed) != 0 ||
		!slices.Equal(rc.CommandLine, []string{"val23", "--check-only", dir}) {
		t.Errorf("recheck %+v; want at %v, moved from %s, nothing changed", rc, recheckAt, recordedRunDir)
	}
	if rc.GitRevision == "" && rc.GitError == "" {
		t.Errorf("recheck names neither the checks' revision nor why it is unknown")
	}

	// A second re-check appends; the first stays.
	if code, _, _ := checkOnly(t, dir); code != 0 {
		t.Fatalf("second re-check exit %d", code)
	}
	if got := len(readReport(t, dir).Rechecks); got != 2 {
		t.Errorf("%d rechecks after two, want 2", got)
	}
}

// The recorded run's timelines show what the checks claim: S-B never above
// the token-bucket envelope, S-C never above the quota, S-D nothing before
// the reload.
func TestCheckOnly_RecordedTimelinesKeepToTheirLimits(t *testing.T) {
	dir := copyRecorded(t)
	if code, _, stderr := checkOnly(t, dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	r := readReport(t, dir)
	byName := map[string]evidence.Scenario{}
	for _, s := range r.Scenarios {
		byName[s.Name] = s
	}
	for name, want := range map[string]struct {
		deliveries int
		limited    bool // some delivery happened under a limit
	}{SA: {4, false}, SB: {5, true}, SC: {2, true}, SD: {6, false}} {
		tl := byName[name].Timeline
		if tl == nil {
			t.Errorf("%s has no timeline", name)
			continue
		}
		if len(tl.Deliveries) != want.deliveries {
			t.Errorf("%s: %d deliveries, want %d", name, len(tl.Deliveries), want.deliveries)
		}
		limited := false
		for _, d := range tl.Deliveries {
			bound, ok := tl.Bound(d.At)
			limited = limited || ok
			if ok && float64(d.Cumulative) > bound+0.5 {
				t.Errorf("%s: %s at %.3f s brings %d B, above the bound %.1f B", name, d.ID, d.At, d.Cumulative, bound)
			}
		}
		if limited != want.limited {
			t.Errorf("%s: deliveries under a limit = %v, want %v", name, limited, want.limited)
		}
	}
	if byName[SE].Timeline != nil {
		t.Errorf("S-E has a timeline, want none (it delivers nothing)")
	}

	sd := byName[SD].Timeline
	var reload *evidence.Mark
	for i, m := range sd.Marks {
		if m.Kind == evidence.MarkBandwidth {
			reload = &sd.Marks[i]
		}
	}
	if reload == nil || reload.Label != "hot reload: unlimited" || reload.Evidence != "S-D/audit.jsonl" {
		t.Fatalf("S-D marks %+v; want the reload to unlimited from the audit log", sd.Marks)
	}
	for _, d := range sd.Deliveries {
		if d.At < reload.At {
			t.Errorf("S-D: %s delivered at %.3f s, before the reload at %.3f s", d.ID, d.At, reload.At)
		}
	}
	if l := sd.Limits[0]; l.Source != "config" || l.BytesPerSecond != BlockedRate || l.BurstBytes != BlockedRate {
		t.Errorf("S-D boot limit %+v, want %d B/s burst %d from edge.toml", l, BlockedRate, BlockedRate)
	}
	sc := byName[SC].Timeline
	if l := sc.Limits[len(sc.Limits)-1]; l.DailyQuotaBytes != QuotaBytes || l.BytesPerSecond != 0 {
		t.Errorf("S-C last limit %+v, want quota %d and no rate", l, QuotaBytes)
	}
}

// addSegment appends a segment to a scenario's recorded peer evidence, as
// if the peer had received one more than was seeded.
func addSegment(t *testing.T, dir, scenario, id string) {
	t.Helper()
	path := filepath.Join(dir, scenario, FilePeer)
	ev, err := received.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	last := ev.Segments[len(ev.Segments)-1]
	extra := last
	extra.ID, extra.SHA256, extra.ReceivedAt = id, "00", last.ReceivedAt.Add(10*time.Millisecond)
	ev.Segments = append(ev.Segments, extra)
	ev.Ingress.Bytes += extra.Bytes
	if err := evidence.WriteJSON(path, ev); err != nil {
		t.Fatal(err)
	}
}

// The "done when": recorded evidence with an extra segment yields a
// report, a junit.xml and an index.html that each name the failing check
// and lead to the file that shows the cause.
func TestCheckOnly_ExtraSegmentFailsAndEveryRenderingPointsAtTheCause(t *testing.T) {
	dir := copyRecorded(t)
	addSegment(t, dir, SB, "val23-sb-006")
	reseal(t, dir) // as a run that really received it would have sealed it

	code, stdout, stderr := checkOnly(t, dir)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a FAIL); stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"VAL23-05 FAIL rate-limited delivery: 6/5 delivered\n", "Overall: PASS=9 FAIL=1\n"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "changed: VAL23-05 PASS→FAIL") {
		t.Errorf("stderr does not say what changed: %s", stderr)
	}
	const cause = "S-B/peer-evidence.json"

	// report.json
	r := readReport(t, dir)
	c := checkByID(t, r.Checks, "VAL23-05")
	if c.Status != evidence.Fail || len(c.Evidence) == 0 || c.Evidence[0] != cause {
		t.Errorf("VAL23-05 status %s evidence %v; want FAIL, %s first", c.Status, c.Evidence, cause)
	}
	// squash: go-cmp varies its whitespace on purpose.
	if !strings.Contains(squash(c.Detail), `+ "val23-sb-006",`) {
		t.Errorf("VAL23-05 detail does not show the extra id:\n%s", c.Detail)
	}
	if diff := cmp.Diff([]string{"VAL23-05 PASS→FAIL"}, r.Rechecks[0].Changed); diff != "" {
		t.Errorf("recheck changes (-want +got):\n%s", diff)
	}
	for _, other := range r.Checks {
		if other.ID != "VAL23-05" && other.Status != evidence.Pass {
			t.Errorf("%s is %s, want PASS: only the S-B delivery set changed", other.ID, other.Status)
		}
	}

	// junit.xml
	var doc evidence.JUnitSuites
	if err := xml.Unmarshal([]byte(readFile(t, filepath.Join(dir, evidence.JUnitXML))), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Tests != 10 || doc.Failures != 1 || doc.Errors != 0 {
		t.Errorf("junit tests=%d failures=%d errors=%d, want 10, 1, 0", doc.Tests, doc.Failures, doc.Errors)
	}
	var failure *evidence.JUnitProblem
	for _, suite := range doc.Suites {
		for _, tc := range suite.Cases {
			if strings.HasPrefix(tc.Name, "VAL23-05 ") {
				failure = tc.Failure
				if tc.Classname != SB || !strings.HasPrefix(suite.Name, "VAL23 S-B") || suite.Failures != 1 {
					t.Errorf("VAL23-05 classname %q in suite %q (%d failures), want %s in S-B's suite", tc.Classname, suite.Name, suite.Failures, SB)
				}
			}
		}
	}
	if failure == nil {
		t.Fatal("junit.xml has no <failure> for VAL23-05")
	}
	for _, want := range []string{`"val23-sb-006"`, "evidence: " + cause} {
		if !strings.Contains(failure.Text, want) {
			t.Errorf("junit failure lacks %q:\n%s", want, failure.Text)
		}
	}

	// index.html: the verdict, a link from it straight to the file, and
	// that file really shows the extra segment.
	page := readFile(t, filepath.Join(dir, evidence.IndexHTML))
	for _, want := range []string{
		`<div class="verdict fail">FAIL — 1 of 10 checks failed</div>`,
		`<a href="#VAL23-05">VAL23-05</a> (FAIL, see <a href="` + cause + `">` + cause + `</a>)`,
		`<tr id="VAL23-05" class="fail"><td class="nw"><a href="` + cause + `">VAL23-05</a>`,
		`<circle class="dot over"`, // the sixth segment above S-B's envelope
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if linked := readFile(t, filepath.Join(dir, filepath.FromSlash(cause))); !strings.Contains(linked, `"val23-sb-006"`) {
		t.Errorf("the linked %s does not show the extra segment", cause)
	}
}

// A run that crashed before its report also never sealed its directory:
// --ignore-manifest re-checks what it left.
func TestCheckOnly_WithoutReportJSONStillEvaluates(t *testing.T) {
	dir := copyRecordedUnsealed(t)
	if err := os.Remove(filepath.Join(dir, evidence.ReportJSON)); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := checkOnlyWith(t, dir, true)
	if code != 0 {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	r := readReport(t, dir)
	if note := r.Rechecks[0].Note; !strings.Contains(note, "report.json was absent") || !strings.Contains(note, "no manifest.sha256") {
		t.Errorf("recheck note %q, want it to say report.json and the manifest were absent", note)
	}
	// The date comes from the earliest scenario start.
	if !strings.Contains(stdout, "\nDate: 2026-12-02\n") {
		t.Errorf("report lacks the run's date:\n%s", stdout)
	}
}

func TestCheckOnly_RefusesWhatItCannotUse(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T) string
		want    string
	}{
		{"missing directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "it does not exist"},
		{"a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, "not an evidence directory (a file)"},
		{"no scenarios", func(t *testing.T) string { return t.TempDir() }, "no scenario directories"},
		{"another schema", func(t *testing.T) string {
			dir := copyRecorded(t)
			if err := os.WriteFile(filepath.Join(dir, evidence.ReportJSON), []byte(`{"schema":"other/v9"}`), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := evidence.WriteManifest(dir); err != nil {
				t.Fatal(err)
			}
			os.Remove(filepath.Join(dir, evidence.AttestationFile))
			return dir
		}, `schema "other/v9"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.prepare(t)
			before, _ := os.ReadFile(filepath.Join(dir, evidence.ReportJSON))
			// --ignore-manifest gets past the seal; these are refused all
			// the same.
			code, stdout, stderr := checkOnlyWith(t, dir, true)
			if code != 2 || !strings.Contains(stderr, tt.want) || stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want 2 and an error containing %q", code, stderr, stdout, tt.want)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, evidence.ReportJSON)); !bytes.Equal(before, after) {
				t.Errorf("report.json was rewritten")
			}
		})
	}
}

// reseal seals dir again over its current files, as the lab would have.
func reseal(t *testing.T, dir string) {
	t.Helper()
	r := readReport(t, dir)
	if err := evidence.Seal(dir, r, evidence.SealOptions{}); err != nil {
		t.Fatal(err)
	}
}
