package labrun

import (
	"os/exec"
	"strings"
	"testing"
)

// The orchestrators are what `go run` compiles before anything can print:
// they must not link SQLite (a minute of cold compile). Seeding goes
// through the setup binary they build instead.
func TestOrchestratorsDoNotLinkSQLite(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "edgelab/labs/val23", "edgelab/labs/val24", "edgelab/labs/val25").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "modernc.org/sqlite") || pkg == "edgelab/edged/ledger" {
			t.Errorf("the lab orchestrators depend on %s: `go run ./labs/...` would compile SQLite before printing anything", pkg)
		}
	}
}
