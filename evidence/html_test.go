package evidence

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// sampleTimeline is S-B as the lab records it: 64 B/s set live at 0.5 s,
// one 64-byte segment a second.
func sampleTimeline() *Timeline {
	tl := &Timeline{Origin: started, End: 5}
	for i, at := range []float64{0.6, 1.6, 2.6, 3.6, 4.6} {
		tl.Deliveries = append(tl.Deliveries, Delivery{At: at, ID: "val23-sb-00" + string(rune('1'+i)), Bytes: 64, Cumulative: int64(64 * (i + 1))})
	}
	tl.Limits = []Limit{
		{From: 0.1, Until: 0.5, Source: "edge.toml"},
		{From: 0.5, Until: 5, BytesPerSecond: 64, BurstBytes: 64, Source: "set-bandwidth"},
	}
	tl.Marks = []Mark{
		{At: 0.5, Kind: MarkBandwidth, Label: "set-bandwidth: 64 B/s (burst 64 B)", Evidence: "S-B/audit.jsonl"},
		{At: 0.55, Kind: MarkPhase, Label: "seeded 5", Evidence: "S-B/seeded.json"},
	}
	return tl
}

func failingSample() Report {
	r := sampleReport()
	r.Checks[4].Detail = "peer evidence ids (-want +got):\n<script>"
	r.Checks[4].Evidence = []string{"S-B/peer-evidence.json", "S-B/seeded.json"}
	r.Checks[9].Evidence = []string{"S-E/scenario.json"}
	r.Scenarios[1].Timeline = sampleTimeline()
	r.Scenarios[1].Files = []string{"S-B/audit.jsonl", "S-B/peer-evidence.json"}
	return r
}

func TestHTML_PointsAtTheCauseOfEachFailure(t *testing.T) {
	data, err := HTML(failingSample())
	if err != nil {
		t.Fatalf("HTML() error: %v", err)
	}
	page := string(data)
	for _, want := range []string{
		`<div class="verdict error">ERROR — 1 of 10 checks could not be evaluated</div>`,
		"<b>Overall: PASS=8 FAIL=1 ERROR=1</b>",
		// The summary line at the top links each non-passing check's
		// evidence directly: one click from the verdict to the cause.
		`<a href="#VAL23-05">VAL23-05</a> (FAIL, see <a href="S-B/peer-evidence.json">S-B/peer-evidence.json</a>)`,
		`<a href="#VAL23-10">VAL23-10</a> (ERROR, see <a href="S-E/scenario.json">S-E/scenario.json</a>)`,
		`<tr id="VAL23-05" class="fail"><td class="nw"><a href="S-B/peer-evidence.json">VAL23-05</a></td><td class="nw"><a href="#S-B">S-B</a></td><td class="nw">FAIL</td>`,
		`<tr id="VAL23-10" class="error"><td class="nw"><a href="S-E/scenario.json">VAL23-10</a></td>`,
		"&lt;script&gt;",
		`<section id="S-B">`,
		`<a href="S-B/audit.jsonl">audit.jsonl</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Errorf("index.html carries a detail unescaped")
	}
	if got := strings.Count(page, `class="pass"><td`); got != 8 {
		t.Errorf("index.html has %d passing rows, want 8", got)
	}
}

func TestHTML_IsSelfContained(t *testing.T) {
	data, err := HTML(failingSample())
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for _, banned := range []string{"<script", "<link", "<img", "@import", "http://", "https://"} {
		// The SVG namespace is an identifier, not something fetched.
		if strings.Contains(strings.ReplaceAll(page, `xmlns="http://www.w3.org/2000/svg"`, ""), banned) {
			t.Errorf("index.html contains %q: it must open offline with no external assets", banned)
		}
	}
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
		if href := m[1]; strings.HasPrefix(href, "/") || strings.Contains(href, ":") || strings.Contains(href, "..") {
			t.Errorf("link %q is not relative inside the evidence directory", href)
		}
	}
}

func TestHTML_DrawsTheTimelineOfEachScenarioThatHasOne(t *testing.T) {
	data, err := HTML(failingSample())
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	if got := strings.Count(page, "<svg viewBox="); got != 1 {
		t.Errorf("index.html has %d timelines, want 1 (only S-B has one)", got)
	}
	for _, want := range []string{
		`aria-label="delivery timeline S-B"`,
		`<polyline class="delivered" points="`,
		`<line class="envelope"`,
		`>64 B/s × t &#43; 64 B</text>`, // html/template escapes "+"
		`>set-bandwidth: 64 B/s (burst 64 B)</text>`,
		`<title>val23-sb-003 at 2.600 s: &#43;64 B, 192 B in all (bound 198 B)</title>`,
		"Limits in force: 0.10–0.50 s: unlimited (edge.toml) · 0.50–5.00 s: 64 B/s (burst 64 B) (set-bandwidth)",
		"No delivery timeline: the scenario delivers no segments.",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
	if strings.Contains(page, `<circle class="dot over" cx=`) {
		t.Errorf("a delivery within the envelope is drawn as over it")
	}
}

func TestHTML_ShowsRechecks(t *testing.T) {
	r := sampleReport()
	r.Rechecks = []Recheck{{
		At: time.Date(2026, 3, 15, 8, 0, 0, 0, time.UTC), CommandLine: []string{"val23", "--check-only", "d"},
		GitRevision: "def456", EvidenceDirWas: "/ci/run/evidence", Changed: []string{"VAL23-05 PASS→FAIL"},
	}}
	data, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `Re-checked 2026-03-15 08:00:00.000Z (<code>val23 --check-only d</code>, git def456); the directory was at /ci/run/evidence; changed: VAL23-05 PASS→FAIL`
	if !strings.Contains(string(data), want) {
		t.Errorf("index.html lacks %q", want)
	}
}

func TestHTML_VerdictFollowsTheExitCode(t *testing.T) {
	tests := []struct {
		name     string
		statuses []Status
		labError string
		want     string
	}{
		{"pass", []Status{Pass, Pass}, "", `<div class="verdict pass">PASS — all 2 checks passed</div>`},
		{"fail", []Status{Pass, Fail}, "", `<div class="verdict fail">FAIL — 1 of 2 checks failed</div>`},
		{"lab could not run", []Status{Error, Error}, "port 19054 is in use", `<div class="verdict error">ERROR — the lab could not run</div>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Report{Title: "T", Error: tt.labError}
			for i, s := range tt.statuses {
				r.Checks = append(r.Checks, Check{ID: string(rune('a' + i)), Status: s})
			}
			data, err := HTML(r)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tt.want) {
				t.Errorf("index.html lacks %q", tt.want)
			}
		})
	}
}

// The page names the machine, the binaries that ran, the seal a reviewer
// can verify, and what each re-check verified.
func TestHTML_ShowsProvenanceAndTheSeal(t *testing.T) {
	r := sampleReport()
	r.Provenance.Kernel, r.Provenance.CPUModel, r.Provenance.CPUCount = "6.18.44", "AMD EPYC", 2
	r.Provenance.LoadStart, r.Provenance.LoadEnd = []float64{1, 2, 3}, []float64{1.5, 2, 3}
	r.Provenance.RevisionSource = RevisionFromGit
	r.Provenance.Binaries = []Binary{{Name: "edged", SHA256: strings.Repeat("ab", 32)}, {Name: "peer", Error: "gone"}}
	r.Rechecks = []Recheck{{At: r.Provenance.StartedAt, Verified: &Verification{Manifest: VerifyMismatched, Files: 42, Attestation: VerifyMatched, Signature: VerifyAbsent, Ignored: true}}}
	data, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	page := string(data)
	for _, want := range []string{
		"(from git)",
		"kernel 6.18.44 · AMD EPYC × 2 · load 1.00 2.00 3.00 → 1.50 2.00 3.00 ·",
		`<a href="manifest.sha256">manifest.sha256</a> (<code>sha256sum -c manifest.sha256</code>)`,
		`<a href="attestation.intoto.json">attestation.intoto.json</a>`,
		"edged sha256 <code>" + strings.Repeat("ab", 32) + "</code>",
		"peer sha256 <code>unknown: gone</code>",
		"seal: manifest mismatched (42 files), attestation matched, signature absent, re-checked despite it (--ignore-manifest)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("index.html lacks %q", want)
		}
	}
}

// A lab that could not run says why once, at the top, not again in every
// check and scenario.
func TestHTML_CouldNotRunSaysWhyOnce(t *testing.T) {
	why := "port 19054 is in use by pid 42: edged run --config /tmp/x/edge.toml"
	r := Report{Schema: SchemaVersion, Lab: "LAB", Title: "LAB — a lab", Error: why}
	for _, s := range []string{"S-A", "S-B"} {
		r.Scenarios = append(r.Scenarios, Scenario{Name: s, Title: "t", Summary: s + " t: not run (" + why + ")", Error: why})
		r.Checks = append(r.Checks, Check{ID: "LAB-" + s, Scenario: s, Status: Error,
			Summary: "x: n/a (" + s + " could not run: " + why + ")", Detail: s + " could not run: " + why})
	}
	page, err := HTML(r)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), why); n != 1 {
		t.Errorf("the reason appears %d times in index.html, want once:\n%s", n, page)
	}
}
