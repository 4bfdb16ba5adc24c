package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/edged/api"
	"edgelab/edged/config"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// The hourly traffic survives a SIGKILL: the report after the restart holds
// exactly the bytes each sender sent (redeliveries included, as the live
// attribution counts them, beyond max_tracked_peers in _overflow as there)
// and the bytes delivered to each target.
func TestEdged_IngressReportSurvivesSIGKILL(t *testing.T) {
	l := newTwoPeerLab(t, labsetup.DefaultConfigOptions(), func(c *config.Config) { c.Ingress.MaxTrackedPeers = 2 })
	l.start()
	addr := l.status().Listen
	require.NotEmpty(t, addr)
	certs, err := labsetup.IssueClientCerts(l.tls.Dir, filepath.Join(l.dir, "senders"), labsetup.CertOptions{}, "sender-1", "sender-2", "legacy")
	require.NoError(t, err)
	s1 := newSender(t, certs["sender-1"], "sender-1", "6f6b2c1e-1d3a-4f5e-9a1b-0c2d3e4f5a61", 1).conns[0]
	s2 := newSender(t, certs["sender-2"], "sender-2", "6f6b2c1e-1d3a-4f5e-9a1b-0c2d3e4f5a62", 1).conns[0]
	legacy := newSender(t, certs["legacy"], "", "6f6b2c1e-1d3a-4f5e-9a1b-0c2d3e4f5a63", 1).conns[0] // a third identity: _overflow
	send := func(c *transport.Client, id, target string, size int) {
		t.Helper()
		_, err := c.Deliver(context.Background(), transport.Delivery{
			Addr: addr, ServerName: "edge-it", ID: id, TargetPeer: target, Payload: labsetup.Payload(id, size),
		})
		require.NoError(t, err, "PUT %s", id)
	}
	for i := range 3 {
		send(s1, fmt.Sprintf("in-1-%d", i), "peer-a", 100)
	}
	send(s1, "in-1-0", "peer-a", 100) // a redelivery: credited, not stored twice
	for i := range 2 {
		send(s2, fmt.Sprintf("in-2-%d", i), "peer-b", 30)
	}
	send(legacy, "in-3-0", "peer-b", 7)
	l.waitFor("6 delivered", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 6, fmt.Sprintf("segments=%+v", st.Segments)
	})
	live := l.status().Ingress
	assert.Equal(t, map[string]int64{"sender-1": 400, "sender-2": 60, transport.OverflowPeer: 7}, live.ByPeer)

	l.kill()
	l.start()
	assert.Equal(t, int64(0), l.status().Ingress.Bytes, "the in-memory counters start over")

	var rep api.IngressReport
	require.NoError(t, json.Unmarshal(l.cli("ingress", "report", "--socket", l.client.Socket, "--json"), &rep))
	all := rep
	type key struct{ peer, kind string }
	got := map[key][2]int64{} // summed over hours: the test may cross one
	for _, b := range rep.Buckets {
		g := got[key{b.Peer, b.Kind}]
		got[key{b.Peer, b.Kind}] = [2]int64{g[0] + b.Bytes, g[1] + b.Segments}
	}
	assert.Equal(t, map[key][2]int64{
		{"sender-1", api.TrafficIngress}:             {live.ByPeer["sender-1"], 4},
		{"sender-2", api.TrafficIngress}:             {live.ByPeer["sender-2"], 2},
		{transport.OverflowPeer, api.TrafficIngress}: {live.ByPeer[transport.OverflowPeer], 1},
		{"peer-a", api.TrafficDelivered}:             {300, 3},
		{"peer-b", api.TrafficDelivered}:             {67, 3},
	}, got)

	// Bounds: the future holds nothing; a bad bound is refused by name.
	var future api.IngressReport
	require.NoError(t, json.Unmarshal(l.cli("ingress", "report", "--socket", l.client.Socket, "--json", "--since", "2099-01-01T00:00:00Z"), &future))
	assert.Empty(t, future.Buckets)
	var recent api.IngressReport
	require.NoError(t, json.Unmarshal(l.cli("ingress", "report", "--socket", l.client.Socket, "--json", "--since", "24h"), &recent))
	assert.Equal(t, all.Buckets, recent.Buckets, "everything was in the last 24 h")
	require.NotNil(t, recent.Since)
	code, out := l.cliFails("ingress", "report", "--socket", l.client.Socket, "--since", "yesterday")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, `since "yesterday"`)
	text := string(l.cli("ingress", "report", "--socket", l.client.Socket))
	assert.Contains(t, text, "HOUR")
	assert.Contains(t, text, "sender-1")
	require.NoError(t, l.stop())
}
