package received_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/peer/received"
)

// FuzzDecode feeds the evidence reader arbitrary bytes. It must never
// panic; a refusal must say why; and evidence it accepts and finds valid
// must survive the writer's encoding unchanged, so a restarted peer resumes
// exactly what it wrote.
func FuzzDecode(f *testing.F) {
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, seed := range []string{
		`{"peer_id":"peer-val23","segments":[{"id":"val23-sa-001","bytes":64,"sha256":"` + sum + `","from_peer":"edge-val23","session":"5d1c","target_peer":"peer-val23","received_at":"2030-01-01T00:00:00.123456789Z","deliveries":2}],"ingress":{"bytes":128,"by_peer":{"edge-val23":128}}}`,
		`{"peer_id":"p","segments":[],"ingress":{"bytes":0,"by_peer":{}}}`,
		`{"peer_id":"p","segments":null,"ingress":{"bytes":3,"by_peer":{"_overflow":3}}}`,
		`{"peer_id":"p","segments":[{"id":"a","bytes":1,"sha256":"` + sum + `","received_at":"2030-01-01T01:00:00+01:00","deliveries":1}],"ingress":{"bytes":1,"by_peer":{"s":1}}}`,
		`{"peer_id":"p","segments":[{"id":"seg-1","by`,
		``,
		`null`,
		`[]`,
		`{}{}`,
		`{"peer_id":1}`,
		`{"segments":[{"received_at":"yesterday"}]}`,
		`{"ingress":{"bytes":9223372036854775807,"by_peer":{"a":9223372036854775807,"b":1}}}`,
		"{\"peer_id\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := received.Decode(data)
		if err != nil {
			if strings.TrimSpace(err.Error()) == "" {
				t.Fatalf("refusal of %q has no message", data)
			}
			return
		}
		if ev.Validate() != nil {
			return
		}
		enc, err := received.Encode(ev)
		if err != nil {
			t.Fatalf("encode valid evidence %+v: %v", ev, err)
		}
		back, err := received.Decode(enc)
		if err != nil {
			t.Fatalf("written evidence does not read back: %v\n%s", err, enc)
		}
		if err := back.Validate(); err != nil {
			t.Fatalf("written evidence is no longer valid: %v\n%s", err, enc)
		}
		if ev.Segments == nil {
			ev.Segments = []received.Segment{}
		}
		if ev.Ingress.ByPeer == nil {
			ev.Ingress.ByPeer = map[string]int64{}
		}
		if diff := cmp.Diff(ev, back); diff != "" {
			t.Fatalf("evidence changed through the writer (-read +re-read):\n%s", diff)
		}
	})
}
