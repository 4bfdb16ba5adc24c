package harness

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVerdictOf(t *testing.T) {
	stream := []byte(`# edgelab/x [build failed]
{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA/sub"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"fail","Package":"p","Test":"TestB"}
{"Action":"fail","Package":"q"}
`)
	events, err := ParseTestEvents(stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 7 || events[0].Action != "output" || events[0].Output != "# edgelab/x [build failed]" {
		t.Fatalf("ParseTestEvents: got %d events, first %+v; want 7, the first the build line as output", len(events), events[0])
	}
	tests := []struct {
		name     string
		events   []TestEvent
		required []string
		want     TestVerdict
		ok       bool
	}{
		{
			name: "failures and a missing test", events: events, required: []string{"TestA", "TestC"},
			want: TestVerdict{Passed: []string{"TestA"}, Failed: []string{"TestB", "package q"}, Missing: []string{"TestC"}},
		},
		{
			name: "all required passed", events: events[:4], required: []string{"TestA"},
			want: TestVerdict{Passed: []string{"TestA"}, Failed: []string{}, Missing: []string{}}, ok: true,
		},
		{
			name: "an empty stream passes nothing", required: []string{"TestA"},
			want: TestVerdict{Passed: []string{}, Failed: []string{}, Missing: []string{"TestA"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := VerdictOf(tt.events, tt.required...)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("VerdictOf (-want +got):\n%s", diff)
			}
			if got.OK() != tt.ok {
				t.Errorf("OK() = %v, want %v (%s)", got.OK(), tt.ok, got)
			}
		})
	}
}

func TestProcess_KillIsASIGKILL(t *testing.T) {
	dir := t.TempDir()
	p, err := Start(Spec{Name: "sleeper", Path: "/bin/sh", Dir: dir, Args: []string{"-c", `trap "" TERM; touch ready; exec sleep 30`}})
	if err != nil {
		t.Fatal(err)
	}
	if err := WaitFile(t.Context(), 5*time.Second, dir+"/ready", p); err != nil {
		t.Fatal(err)
	}
	how, err := p.Kill(5 * time.Second)
	if err != nil || how != "signal: killed" {
		t.Fatalf("Kill() = %q, %v; want \"signal: killed\", nil", how, err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Errorf("Stop() after Kill = %v, want nil", err)
	}
	if _, err := p.Kill(time.Second); err == nil {
		t.Errorf("second Kill() = nil, want an error saying it had exited")
	}
}
