package evidence

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// junitElement is one element of the JUnit schema CI tools share (Jenkins'
// junit-10.xsd, which GitHub's reporters follow): its required and optional
// attributes and the children it may hold.
type junitElement struct {
	required, optional []string
	children           []string
	text               bool // character data allowed
}

var junitSchema = map[string]junitElement{
	"testsuites": {optional: []string{"name", "time", "tests", "failures", "errors", "disabled"}, children: []string{"testsuite"}},
	"testsuite": {
		required: []string{"name", "tests", "failures", "errors"},
		optional: []string{"group", "time", "skipped", "timestamp", "hostname", "id", "package", "file", "log", "url", "disabled"},
		children: []string{"testsuite", "properties", "testcase", "system-out", "system-err"},
	},
	"properties": {children: []string{"property"}},
	"property":   {required: []string{"name", "value"}},
	"testcase": {
		required: []string{"name"}, optional: []string{"time", "classname", "group", "assertions", "status"},
		children: []string{"skipped", "error", "failure", "system-out", "system-err"},
	},
	"failure":    {optional: []string{"type", "message"}, text: true},
	"error":      {optional: []string{"type", "message"}, text: true},
	"skipped":    {optional: []string{"type", "message"}, text: true},
	"system-out": {text: true},
	"system-err": {text: true},
}

// surefireTime is the schema's pattern for time attributes.
var surefireTime = regexp.MustCompile(`^(([0-9]{0,3},)*[0-9]{3}|[0-9]{0,3})*(\.[0-9]*)?$`)

// antTimestamp is the Ant schema's timestamp: no zone designator.
var antTimestamp = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$`)

// validateJUnit checks doc against junitSchema and checks that the counts
// agree with the cases.
func validateJUnit(doc []byte) error {
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var stack []string
	var errs []error
	// Each open <testsuites> or <testsuite>: its declared counts and the
	// elements counted inside it so far.
	type scope struct {
		name     string
		declared map[string]string
		counted  map[string]int
	}
	var scopes []*scope
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("not well-formed: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			name := t.Name.Local
			def, known := junitSchema[name]
			switch {
			case !known:
				errs = append(errs, fmt.Errorf("unknown element <%s>", name))
			case len(stack) == 0 && name != "testsuites":
				errs = append(errs, fmt.Errorf("root is <%s>, want <testsuites>", name))
			case len(stack) > 0 && !slices.Contains(junitSchema[stack[len(stack)-1]].children, name):
				errs = append(errs, fmt.Errorf("<%s> inside <%s>", name, stack[len(stack)-1]))
			}
			attrs := map[string]string{}
			for _, a := range t.Attr {
				attrs[a.Name.Local] = a.Value
				if !slices.Contains(def.required, a.Name.Local) && !slices.Contains(def.optional, a.Name.Local) {
					errs = append(errs, fmt.Errorf("<%s> has unknown attribute %s", name, a.Name.Local))
				}
				if a.Name.Local == "time" && !surefireTime.MatchString(a.Value) {
					errs = append(errs, fmt.Errorf("<%s time=%q> is not a schema time", name, a.Value))
				}
				if a.Name.Local == "timestamp" && !antTimestamp.MatchString(a.Value) {
					errs = append(errs, fmt.Errorf("<%s timestamp=%q> is not an Ant timestamp", name, a.Value))
				}
			}
			for _, r := range def.required {
				if _, ok := attrs[r]; !ok {
					errs = append(errs, fmt.Errorf("<%s> lacks required attribute %s", name, r))
				}
			}
			for _, sc := range scopes {
				sc.counted[name]++
			}
			if name == "testsuites" || name == "testsuite" {
				scopes = append(scopes, &scope{name: name, declared: attrs, counted: map[string]int{}})
			}
			stack = append(stack, name)
		case xml.EndElement:
			if n := t.Name.Local; n == "testsuites" || n == "testsuite" {
				sc := scopes[len(scopes)-1]
				scopes = scopes[:len(scopes)-1]
				for attr, elem := range map[string]string{"tests": "testcase", "failures": "failure", "errors": "error"} {
					if v, ok := sc.declared[attr]; ok {
						if n, err := strconv.Atoi(v); err != nil || n != sc.counted[elem] {
							errs = append(errs, fmt.Errorf("<%s name=%q> %s=%q but it holds %d <%s>", sc.name, sc.declared["name"], attr, v, sc.counted[elem], elem))
						}
					}
				}
			}
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 && !junitSchema[stack[len(stack)-1]].text && strings.TrimSpace(string(t)) != "" {
				errs = append(errs, fmt.Errorf("text inside <%s>", stack[len(stack)-1]))
			}
		}
	}
	return errors.Join(errs...)
}

func TestJUnit_IsValidAgainstTheCommonSchema(t *testing.T) {
	reports := map[string]Report{"sample": sampleReport(), "all pass": {Lab: "L", Title: "t"}}
	lab := sampleReport()
	lab.Error = "port 19054 is in use"
	for i := range lab.Checks {
		lab.Checks[i].Status = Error
	}
	reports["lab could not run"] = lab
	for name, r := range reports {
		t.Run(name, func(t *testing.T) {
			doc, err := JUnit(r)
			if err != nil {
				t.Fatalf("JUnit() error: %v", err)
			}
			if err := validateJUnit(doc); err != nil {
				t.Errorf("junit.xml invalid:\n%v\n%s", err, doc)
			}
		})
	}
}

func TestValidateJUnit_RejectsWhatTheSchemaForbids(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"wrong root", `<testsuite name="a" tests="0" failures="0" errors="0"/>`, "root is <testsuite>"},
		{"missing counts", `<testsuites><testsuite name="a"/></testsuites>`, "lacks required attribute tests"},
		{"bad time", `<testsuites><testsuite name="a" tests="0" failures="0" errors="0" time="1s"/></testsuites>`, `time="1s"`},
		{"zone in timestamp", `<testsuites><testsuite name="a" tests="0" failures="0" errors="0" timestamp="2026-01-01T00:00:00Z"/></testsuites>`, "not an Ant timestamp"},
		{"count mismatch", `<testsuites><testsuite name="a" tests="2" failures="0" errors="0"><testcase name="x"/></testsuite></testsuites>`, `tests="2" but it holds 1 <testcase>`},
		{"failure outside a case", `<testsuites><testsuite name="a" tests="0" failures="1" errors="0"><failure/></testsuite></testsuites>`, "<failure> inside <testsuite>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateJUnit([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("validateJUnit() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestJUnit_FailureCarriesObservedValuesAndEvidence(t *testing.T) {
	r := sampleReport()
	r.Checks[4].Observed = map[string]any{"peer_ids": []string{"val23-sb-001", "val23-sb-006"}}
	r.Checks[4].Detail = "peer evidence ids (-want +got):\n+ \"val23-sb-006\""
	r.Checks[4].Evidence = []string{"S-B/peer-evidence.json", "S-B/seeded.json"}
	r.Scenarios[1].StartedAt = started
	data, err := JUnit(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc JUnitSuites
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Suites) != 5 || doc.Suites[1].Name != "VAL23 S-B" {
		t.Fatalf("suites %d, the second %q; want one per scenario", len(doc.Suites), doc.Suites[1].Name)
	}
	got := doc.Suites[1].Cases[2].Failure
	if got == nil {
		t.Fatalf("VAL23-05 has no <failure>:\n%s", data)
	}
	want := "criterion: c\n" +
		`observed: {"peer_ids":["val23-sb-001","val23-sb-006"]}` + "\n" +
		"detail:\npeer evidence ids (-want +got):\n+ \"val23-sb-006\"\n" +
		"evidence: S-B/peer-evidence.json, S-B/seeded.json\n"
	if got.Text != want {
		t.Errorf("failure text:\n%s\nwant:\n%s", got.Text, want)
	}
	if got.Message != "rate-limited delivery: 4/5 delivered" || got.Type != "FAIL" {
		t.Errorf("failure message %q type %q", got.Message, got.Type)
	}
	if ts := doc.Suites[1].Timestamp; ts != "2026-03-14T09:26:53" {
		t.Errorf("timestamp %q, want 2026-03-14T09:26:53", ts)
	}
}
