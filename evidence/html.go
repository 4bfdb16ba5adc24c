package evidence

import (
	"bytes"
	"fmt"
	"html/template"
)

// IndexHTML is the name of the browsable report in an evidence directory.
const IndexHTML = "index.html"

var htmlReport = template.Must(template.New("index").Funcs(template.FuncMap{
	"class": statusClass,
	"env":   EnvironmentLine,
	"secs":  func(f float64) string { return fmt.Sprintf("%.1fs", f) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.R.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
.pass{background:#dfd}.fail{background:#fdd}.error{background:#fec}
pre{white-space:pre-wrap;margin:0;font-size:.85em}
</style></head><body>
<h1>{{.R.Title}}</h1>
<p><b>Overall: PASS={{.Pass}} FAIL={{.Fail}}{{if .Errors}} ERROR={{.Errors}}{{end}}</b>{{if .R.Error}} — lab could not run: {{.R.Error}}{{end}}</p>
<p>Date {{.R.Date}} · {{env .R.Provenance}} · host {{.R.Provenance.Hostname}} ·
git {{.R.Provenance.GitRevision}}{{if .R.Provenance.GitDirty}} (dirty){{end}} ·
<a href="report.json">report.json</a> · <a href="report.txt">report.txt</a> · <a href="junit.xml">junit.xml</a> · <a href="environment.json">environment.json</a></p>
<h2>Scenarios</h2>
<table><tr><th>scenario</th><th>summary</th><th>time</th><th>end condition</th></tr>
{{range .R.Scenarios}}<tr><td><a href="{{.Name}}/">{{.Name}}</a></td><td>{{.Summary}}</td><td>{{secs .Seconds}}</td>
<td>{{if .Error}}not run: {{.Error}}{{else if .ReachedAt}}reached{{else if .TimedOut}}timed out{{end}}</td></tr>
{{end}}</table>
<h2>Checks</h2>
<table><tr><th>check</th><th>scenario</th><th>status</th><th>observed</th><th>criterion</th></tr>
{{range .R.Checks}}<tr class="{{class .Status}}"><td>{{.ID}}</td><td>{{.Scenario}}</td><td>{{.Status}}</td>
<td>{{.Summary}}{{if .Detail}}<pre>{{.Detail}}</pre>{{end}}</td><td>{{.Criterion}}</td></tr>
{{end}}</table>
</body></html>
`))

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

// HTML renders index.html.
func HTML(r Report) ([]byte, error) {
	pass, fail, errs := r.Counts()
	var b bytes.Buffer
	err := htmlReport.Execute(&b, struct {
		R                  Report
		Pass, Fail, Errors int
	}{r, pass, fail + errs, errs})
	if err != nil {
		return nil, fmt.Errorf("render index.html: %w", err)
	}
	return b.Bytes(), nil
}
