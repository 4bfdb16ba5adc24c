package val25

import (
	"cmp"
	"context"

	"edgelab/labs/labrun"
)

// Config is one invocation of the lab.
type Config struct {
	// Config's EvidenceDir, when empty, means
	// evidence/val25-operator-features-local-<date> under the module root.
	labrun.Config
	// EdgedAddr and PeerAddr override the lab ports (tests use free ones);
	// empty means 127.0.0.1:19059 and :19060.
	EdgedAddr, PeerAddr string
	// Only, when set, runs just these scenarios; the others' checks are
	// ERROR (not run).
	Only []string
}

// Lab is a run in progress: what its scenarios share (the built binaries,
// the evidence directory) and where edged and the peer listen.
type Lab struct {
	*labrun.Env
	EdgedAddr, PeerAddr string
}

// Main runs the whole lab through labrun.Main and returns its exit status:
// 0 when all checks pass, 1 when any fails, 2 when the lab could not run.
func Main(ctx context.Context, cfg Config) int {
	lab := &Lab{EdgedAddr: cmp.Or(cfg.EdgedAddr, EdgedAddr), PeerAddr: cmp.Or(cfg.PeerAddr, PeerAddr)}
	return labrun.Main(ctx, cfg.Config, labrun.Spec{
		Name: LabName, Title: Title, DirName: DirName,
		Scenarios: Scenarios,
		Ports:     lab.ports(),
		Only:      cfg.Only,
		Run: func(ctx context.Context, env *labrun.Env, s labrun.Scenario) {
			lab.Env = env
			lab.RunScenario(ctx, s)
		},
		Evaluate: Evaluate,
	})
}

func (l *Lab) ports() []string { return []string{l.EdgedAddr, l.PeerAddr} }
