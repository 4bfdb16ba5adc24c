package evidence

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// jenkinsXSD is the Jenkins JUnit schema (testdata/README.md says whence).
const jenkinsXSD = "testdata/junit-10.xsd"

// xmllint validates doc against the Jenkins schema; the test is skipped
// where xmllint is not installed, unless EDGELAB_REQUIRE_XMLLINT=1 (as
// .ci/run sets it) makes that a failure.
func xmllint(t *testing.T, doc []byte) (string, error) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		if os.Getenv("EDGELAB_REQUIRE_XMLLINT") == "1" {
			t.Fatalf("xmllint is not installed (Debian: apt-get install -y libxml2-utils) and EDGELAB_REQUIRE_XMLLINT=1")
		}
		t.Skip("xmllint is not installed (Debian: apt-get install -y libxml2-utils): junit.xml not validated against the Jenkins XSD")
	}
	path := filepath.Join(t.TempDir(), "junit.xml")
	require.NoError(t, os.WriteFile(path, doc, 0o644))
	out, err := exec.Command(bin, "--noout", "--schema", jenkinsXSD, path).CombinedOutput()
	return string(out), err
}

func TestJUnit_ValidAgainstTheJenkinsXSD(t *testing.T) {
	lab := sampleReport()
	lab.Error = "port 19054 is in use"
	for i := range lab.Checks {
		lab.Checks[i].Status = Error
		lab.Checks[i].Detail = "S-A could not run: port 19054 is in use <&> \"quoted\""
	}
	failed := recordedReport(t)
	failed.Checks[4].Status = Fail
	failed.Checks[4].Detail = "peer evidence ids (-want +got):\n+ \"val23-sb-006\""
	for name, r := range map[string]Report{
		"sample":             sampleReport(),
		"empty":              {Lab: "L", Title: "t"},
		"lab could not run":  lab,
		"recorded run":       recordedReport(t),
		"recorded, one FAIL": failed,
	} {
		t.Run(name, func(t *testing.T) {
			doc, err := JUnit(r)
			require.NoError(t, err)
			if out, err := xmllint(t, doc); err != nil {
				t.Errorf("junit.xml does not validate against %s: %v\n%s\n%s", jenkinsXSD, err, out, doc)
			}
		})
	}
}

// The schema check is real: xmllint refuses what the schema forbids.
func TestJUnit_TheJenkinsXSDRefusesABadDocument(t *testing.T) {
	bad := `<?xml version="1.0"?><testsuites><testsuite name="a" tests="1" failures="0" errors="0" time="1s"><testcase/></testsuite></testsuites>`
	out, err := xmllint(t, []byte(bad))
	if err == nil {
		t.Fatalf("xmllint accepted a testsuite time of 1s and a testcase without a name:\n%s", out)
	}
	for _, want := range []string{"time", "name"} {
		if !strings.Contains(out, want) {
			t.Errorf("xmllint output does not name %q:\n%s", want, out)
		}
	}
}
