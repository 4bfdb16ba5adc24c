package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"edgelab/peer/received"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// The peer records each segment of a batch as its own receipt, exactly as
// if each had been PUT singly: the same evidence (receive times aside) as a
// second peer given the same segments one PUT at a time, and the same
// answer per segment.
func TestBatch_EachSegmentIsAReceipt(t *testing.T) {
	ctx := context.Background()
	segs := []struct{ id, body string }{
		{"val23-b-001", string(labsetup.Payload("val23-b-001", 64))},
		{"val23-b-002", string(labsetup.Payload("val23-b-002", 100))},
		{"val23-b-001", string(labsetup.Payload("val23-b-001", 64))}, // redelivery: 200
		{"a b", "bad id"},                          // 400
		{"val23-b-003", strings.Repeat("x", 1025)}, // over the peer's 1024: 413
		{"val23-b-004", ""},                        // empty
		{"val23-b-002", "another body"},            // the peer keeps the first: 200
	}
	want := []int{201, 201, 200, 400, 413, 201, 200}

	batched := startPeer(t, nil)
	c := batched.client(t, batched.tls.EdgedFiles(), "edge-val23", "11111111-1111-4111-8111-111111111111")
	b := &transport.Batch{Addr: batched.srv.Addr(), ServerName: peerID, TargetPeer: peerID}
	for _, s := range segs {
		if err := b.Add(s.id, io.NewSectionReader(strings.NewReader(s.body), 0, int64(len(s.body)))); err != nil {
			t.Fatal(err)
		}
	}
	results, err := c.DeliverBatch(ctx, b)
	if err != nil {
		t.Fatalf("DeliverBatch: %v", err)
	}
	var got []int
	for _, r := range results {
		got = append(got, r.Status)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("batch answers (-want +got):\n%s", diff)
	}

	single := startPeer(t, nil)
	sc := single.client(t, single.tls.EdgedFiles(), "edge-val23", "11111111-1111-4111-8111-111111111111")
	got = nil
	for _, s := range segs {
		created, err := single.deliver(ctx, sc, s.id, []byte(s.body))
		code := http.StatusOK
		var se *transport.StatusError
		switch {
		case errors.As(err, &se):
			code = se.Code
		case err != nil:
			t.Fatalf("PUT %s: %v", s.id, err)
		case created:
			code = http.StatusCreated
		}
		got = append(got, code)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("single PUT answers (-want +got):\n%s", diff)
	}

	evB, evS := batched.fileEvidence(t), single.fileEvidence(t)
	if diff := cmp.Diff(evS, evB, ignoreReceivedAt); diff != "" {
		t.Errorf("evidence of the batch differs from the single PUTs' (-single +batch):\n%s", diff)
	}
	var ids []string
	for _, s := range evB.Segments {
		ids = append(ids, s.ID)
		if s.ReceivedAt.IsZero() {
			t.Errorf("%s: received_at is zero", s.ID)
		}
	}
	if diff := cmp.Diff([]string{"val23-b-001", "val23-b-002", "val23-b-004"}, ids); diff != "" {
		t.Errorf("receipts (-want +got):\n%s", diff)
	}
	wantSeg := received.Segment{ID: "val23-b-001", Bytes: 64, SHA256: labsetup.PayloadSHA256("val23-b-001", 64),
		FromPeer: "edge-val23", Session: "11111111-1111-4111-8111-111111111111", TargetPeer: peerID, Deliveries: 2}
	if diff := cmp.Diff(wantSeg, evB.Segments[0], ignoreReceivedAt); diff != "" {
		t.Errorf("first receipt (-want +got):\n%s", diff)
	}
	batched.waitLog(t, "path="+transport.BatchPath)
}
