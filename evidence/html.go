package evidence

import (
	"bytes"
	"fmt"
	"html/template"
	"path"
	"strings"
	"time"
)

// IndexHTML is the name of the browsable report in an evidence directory.
const IndexHTML = "index.html"

// The page is self-contained (inline CSS, inline SVG, no scripts, no
// external assets) and links only to files inside the evidence directory,
// by relative paths, so it opens from the file system, from a CI artifact
// and from a copy alike.
var htmlReport = template.Must(template.New("index").Funcs(template.FuncMap{
	"class": statusClass,
	"env":   EnvironmentLine,
	"secs":  func(f float64) string { return fmt.Sprintf("%.2f s", f) },
	"stamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
	"join":  strings.Join,
	"loads": func(l []float64) string {
		parts := make([]string, len(l))
		for i, v := range l {
			parts[i] = fmt.Sprintf("%.2f", v)
		}
		return strings.Join(parts, " ")
	},
	"base": path.Base,
	// labErr reports whether text only repeats the lab's own could-not-run
	// reason, which the page says once at the top.
	"labErr": func(labError, text string) bool { return labError != "" && strings.Contains(text, labError) },
}).Parse(pageStyle + `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.R.Title}}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
{{template "style"}}</head><body>
<h1>{{.R.Title}}</h1>
<div class="verdict {{.VerdictClass}}">{{.Verdict}}</div>
<p><b>Overall: PASS={{.Pass}} FAIL={{.Fail}}{{if .Errors}} ERROR={{.Errors}}{{end}}</b>{{if .R.Error}} — the lab could not run: {{.R.Error}}{{end}}</p>
{{if .NotPassing}}<p>Not passing: {{range $i, $c := .NotPassing}}{{if $i}}, {{end}}<a href="#{{$c.ID}}">{{$c.ID}}</a> ({{$c.Status}}{{if $c.Link}}, see <a href="{{$c.Link}}">{{$c.Link}}</a>{{end}}){{end}}</p>{{end}}
<p class="small">Date {{.R.Date}} · {{env .R.Provenance}} · host {{.R.Provenance.Hostname}} ·
git {{with .R.Provenance.GitRevision}}{{.}}{{else}}unknown{{end}}{{if .R.Provenance.GitDirty}} (dirty){{end}}{{with .R.Provenance.RevisionSource}} (from {{.}}){{end}}{{with .R.Provenance.GitError}} ({{.}}){{end}} ·
{{with .R.Provenance.Kernel}}kernel {{.}} · {{end}}{{with .R.Provenance.CPUModel}}{{.}} × {{$.R.Provenance.CPUCount}} · {{end}}{{with .R.Provenance.LoadStart}}load {{loads .}}{{with $.R.Provenance.LoadEnd}} → {{loads .}}{{end}} · {{end}}
started {{stamp .R.Provenance.StartedAt}}, {{secs .Duration}} ·
command <code>{{join .R.Provenance.CommandLine " "}}</code><br>
Evidence dir {{.R.EvidenceDir}} ·
<a href="report.txt">report.txt</a> · <a href="report.json">report.json</a> · <a href="junit.xml">junit.xml</a> · <a href="environment.json">environment.json</a> · <a href="manifest.sha256">manifest.sha256</a> (<code>sha256sum -c manifest.sha256</code>) · <a href="attestation.intoto.json">attestation.intoto.json</a>{{range .R.Provenance.Binaries}}<br>{{.Name}} sha256 <code>{{with .SHA256}}{{.}}{{else}}unknown: {{.Error}}{{end}}</code>{{end}}</p>
{{range .R.Rechecks}}<p class="small">Re-checked {{stamp .At}} (<code>{{join .CommandLine " "}}</code>, git {{with .GitRevision}}{{.}}{{else}}unknown{{end}}{{if .GitDirty}} (dirty){{end}}){{with .EvidenceDirWas}}; the directory was at {{.}}{{end}}{{if .Changed}}; changed: {{join .Changed ", "}}{{else}}; no status changed{{end}}{{with .Note}}; {{.}}{{end}}{{with .Verified}}; seal: manifest {{.Manifest}} ({{.Files}} files), attestation {{.Attestation}}, signature {{.Signature}}{{if .Ignored}}, re-checked despite it (--ignore-manifest){{end}}{{end}}</p>
{{end}}
<h2>Checks</h2>
<table class="checks"><tr><th>check</th><th>scenario</th><th>status</th><th>observed</th><th>criterion</th><th>evidence</th></tr>
{{range .Checks}}<tr id="{{.ID}}" class="{{class .Status}}"><td class="nw">{{if .Link}}<a href="{{.Link}}">{{.ID}}</a>{{else}}{{.ID}}{{end}}</td><td class="nw"><a href="#{{.Scenario}}">{{.Scenario}}</a></td><td class="nw">{{.Status}}</td>
<td>{{if labErr $.R.Error .Detail}}n/a — the lab could not run (the reason is at the top){{else}}{{.Summary}}{{if .Detail}}<pre>{{.Detail}}</pre>{{end}}{{end}}</td><td>{{.Criterion}}</td><td class="files">{{range .Evidence}}<a href="{{.}}" title="{{.}}">{{base .}}</a> {{end}}</td></tr>
{{end}}</table>
<h2>Scenarios</h2>
{{if .HasTimeline}}<p class="small legend">Timelines: bytes the peer received over time, from its <code>received_at</code> stamps, against the limits in force.
<span><svg width="24" height="10"><line x1="0" y1="5" x2="24" y2="5" class="delivered"/></svg> bytes received</span>
<span><svg width="24" height="10"><line x1="0" y1="5" x2="24" y2="5" class="envelope"/></svg> token bucket envelope: rate × t + burst</span>
<span><svg width="24" height="10"><line x1="0" y1="5" x2="24" y2="5" class="quota"/></svg> daily quota</span>
<span><svg width="10" height="14"><line x1="5" y1="0" x2="5" y2="14" class="mark-set-bandwidth"/></svg> bandwidth change (set-bandwidth)</span>
<span><svg width="10" height="14"><line x1="5" y1="0" x2="5" y2="14" class="mark-phase"/></svg> scenario step</span>
<span><svg width="10" height="10"><circle cx="5" cy="5" r="3.5" class="dot over"/></svg> above the bound in force</span></p>{{end}}
<div class="scenarios">
{{range .Scenarios}}<section id="{{.Name}}">
<h3>{{.Name}} {{.Title}}</h3>
<p>{{if labErr $.R.Error .Summary}}{{.Name}} {{.Title}}: not run{{else}}{{.Summary}}{{end}}<br><span class="small">{{secs .Seconds}}{{if labErr $.R.Error .Error}} · not run (the reason is at the top){{else if .Error}} · not run: {{.Error}}{{else if .ReachedAt}} · end condition reached at {{secs .Reached}}{{else if .TimedOut}} · end condition NOT reached (timed out){{end}}{{if .CheckIDs}} · checks {{range $i, $id := .CheckIDs}}{{if $i}}, {{end}}<a href="#{{$id}}">{{$id}}</a>{{end}}{{end}}</span></p>
{{with .Chart}}{{template "chart" .}}{{else}}<p class="small">No delivery timeline: {{if .Error}}the scenario did not run{{else}}the scenario delivers no segments{{end}}.</p>{{end}}
{{if or .EndCondition .PhaseLines}}<details class="small"><summary>end condition and phases</summary>{{with .EndCondition}}Waited for: {{.}}<br>{{end}}{{join .PhaseLines " · "}}</details>{{end}}
{{if .Files}}<details class="small files"><summary>evidence files ({{len .Files}})</summary>{{range .Files}}<a href="{{.}}">{{base .}}</a> {{end}}</details>{{end}}
</section>
{{end}}</div>
</body></html>
{{define "chart"}}<svg viewBox="0 0 {{.W}} {{.H}}" width="{{.W}}" height="{{.H}}" role="img" aria-label="delivery timeline {{.ID}}" xmlns="http://www.w3.org/2000/svg">
{{range .YTicks}}<line class="grid" x1="{{$.Left}}" y1="{{.Pos}}" x2="{{$.Right}}" y2="{{.Pos}}"/><text x="{{$.Left}}" dx="-6" y="{{.Pos}}" dy="4" text-anchor="end">{{.Label}}</text>
{{end}}{{range .XTicks}}<line class="grid" x1="{{.Pos}}" y1="{{$.Top}}" x2="{{.Pos}}" y2="{{$.Bottom}}"/><text x="{{.Pos}}" y="{{$.Bottom}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}<line class="axis" x1="{{.Left}}" y1="{{.Bottom}}" x2="{{.Right}}" y2="{{.Bottom}}"/><line class="axis" x1="{{.Left}}" y1="{{.Top}}" x2="{{.Left}}" y2="{{.Bottom}}"/>
<text x="{{.Right}}" y="{{.H}}" dy="-6" text-anchor="end">{{.XTitle}}</text>
<text x="14" y="{{.Bottom}}" transform="rotate(-90 14 {{.Bottom}})">{{.YTitle}}</text>
{{range .Marks}}<g><title>{{.Title}}</title><line class="mark-{{.Kind}}" x1="{{.X}}" y1="{{.LabelY}}" x2="{{.X}}" y2="{{$.Bottom}}"/><text class="mark-{{.Kind}}" x="{{.X}}" dx="{{if .AnchorEnd}}-3{{else}}3{{end}}" y="{{.LabelY}}" dy="-2"{{if .AnchorEnd}} text-anchor="end"{{end}}>{{.Label}}</text></g>
{{end}}<polyline class="delivered" points="{{.Steps}}"/>
{{range .Quotas}}<line class="quota" x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/><text class="quota-label" x="{{.X2}}" y="{{.Y2}}" dx="-4" dy="14" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Envelopes}}<line class="envelope" x1="{{.X1}}" y1="{{.Y1}}" x2="{{.X2}}" y2="{{.Y2}}"/><text class="envelope-label" x="{{.X2}}" y="{{.Y2}}" dx="-4" dy="-6" text-anchor="end">{{.Label}}</text>
{{end}}{{range .Dots}}<circle class="dot{{if .Over}} over{{end}}" cx="{{.X}}" cy="{{.Y}}" r="3.5"><title>{{.Title}}</title></circle>
{{end}}</svg>
{{if .Limits}}<p class="small">Limits in force: {{join .Limits " · "}}</p>{{end}}{{end}}
`))

// pageStyle is the one stylesheet of index.html and trend.html, so the
// two pages look alike: inline, since the pages must open offline.
const pageStyle = `{{define "style"}}<style>
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.2em 1.5em;max-width:84em;color:#222}
h1{font-size:1.5em;margin:.2em 0 .4em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1.05em;margin:1.4em 0 .3em}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.nw{white-space:nowrap}.checks td{font-size:.9em}.pass{background:#e3f6e3}.fail{background:#fbdede}.error{background:#fdebd0}
.verdict{font-size:1.25em;font-weight:bold;padding:.5em .8em;border-radius:4px;display:inline-block;margin:.2em 0}
.verdict.pass{border:2px solid #2a7d2a}.verdict.fail{border:2px solid #b22}.verdict.error{border:2px solid #c70}
pre{white-space:pre-wrap;margin:.3em 0 0;font-size:.85em}
.small{font-size:.85em;color:#555}.files a{margin-right:.8em}
.scenarios{display:grid;grid-template-columns:repeat(auto-fill,minmax(35em,1fr));gap:0 1.5em}
.scenarios section{min-width:0}.scenarios h3{margin-top:.8em}details{margin:.2em 0}summary{cursor:pointer}
svg text.quota-label{fill:#c0392b}svg text.envelope-label{fill:#b86e00}
.legend span{margin-right:1.2em;white-space:nowrap}.legend svg{border:0;vertical-align:middle}
svg{max-width:100%;height:auto;background:#fff;border:1px solid #ddd}
svg text{font-family:system-ui,sans-serif;font-size:11px;fill:#333}
.axis{stroke:#888;stroke-width:1}.grid{stroke:#eee;stroke-width:1}
.delivered{fill:none;stroke:#1f5fbf;stroke-width:2}.dot{fill:#1f5fbf}.dot.over{fill:#d22}
.envelope{stroke:#e08a00;stroke-width:2;stroke-dasharray:6 4}.quota{stroke:#c0392b;stroke-width:2.5;stroke-dasharray:3 3}
.mark-set-bandwidth{stroke:#7b2fbf;stroke-width:1.5}.mark-phase{stroke:#999;stroke-width:1;stroke-dasharray:3 3}
text.mark-set-bandwidth{fill:#7b2fbf;stroke:none}text.mark-phase{fill:#777;stroke:none}
.legend line{stroke-width:2}
</style>{{end}}`

func statusClass(s Status) string {
	switch s {
	case Pass:
		return "pass"
	case Fail:
		return "fail"
	default:
		return "error"
	}
}

// htmlCheck is a check row with the one link that explains it.
type htmlCheck struct {
	Check
	Link string
}

type htmlScenario struct {
	Scenario
	Reached    float64
	Chart      *chart
	PhaseLines []string
	CheckIDs   []string
}

type htmlPage struct {
	R                  Report
	Verdict            string
	VerdictClass       string
	Pass, Fail, Errors int
	Duration           float64
	Checks             []htmlCheck
	NotPassing         []htmlCheck
	Scenarios          []htmlScenario
	HasTimeline        bool
}

// HTML renders index.html from the report alone.
func HTML(r Report) ([]byte, error) {
	pass, fail, errs := r.Counts()
	p := htmlPage{R: r, Pass: pass, Fail: fail, Errors: errs}
	p.Duration = r.Provenance.FinishedAt.Sub(r.Provenance.StartedAt).Seconds()
	if p.Duration < 0 {
		p.Duration = 0
	}
	switch r.ExitCode() {
	case 0:
		p.Verdict, p.VerdictClass = fmt.Sprintf("PASS — all %d checks passed", pass), "pass"
	case 1:
		p.Verdict, p.VerdictClass = fmt.Sprintf("FAIL — %d of %d checks failed", fail, len(r.Checks)), "fail"
	default:
		p.Verdict, p.VerdictClass = fmt.Sprintf("ERROR — %d of %d checks could not be evaluated", errs, len(r.Checks)), "error"
		if r.Error != "" {
			p.Verdict = "ERROR — the lab could not run"
		}
	}
	for _, c := range r.Checks {
		hc := htmlCheck{Check: c}
		if len(c.Evidence) > 0 {
			hc.Link = c.Evidence[0]
		}
		p.Checks = append(p.Checks, hc)
		if c.Status != Pass {
			p.NotPassing = append(p.NotPassing, hc)
		}
	}
	for _, s := range r.Scenarios {
		hs := htmlScenario{Scenario: s}
		if s.ReachedAt != nil {
			hs.Reached = s.ReachedAt.Sub(s.StartedAt).Seconds()
		}
		if s.Timeline != nil {
			c := newChart(s.Name, s.Timeline)
			hs.Chart = &c
			p.HasTimeline = true
		}
		for _, ph := range s.Phases {
			line := fmt.Sprintf("%s %.2f–%.2f s", ph.Name, ph.StartedAt.Sub(s.StartedAt).Seconds(), ph.EndedAt.Sub(s.StartedAt).Seconds())
			if ph.Error != "" {
				line += " (" + ph.Error + ")"
			}
			hs.PhaseLines = append(hs.PhaseLines, line)
		}
		for _, c := range r.Checks {
			if c.Scenario == s.Name {
				hs.CheckIDs = append(hs.CheckIDs, c.ID)
			}
		}
		p.Scenarios = append(p.Scenarios, hs)
	}
	var b bytes.Buffer
	if err := htmlReport.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("render index.html: %w", err)
	}
	return b.Bytes(), nil
}
