package perf

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// IngressRate PUTs size-byte segments to a segment listener for d, from
// senders distinct sender identities (no Edge-Peer-Id, a distinct
// Edge-Session-Id each, as old clients send: the identity the listener
// attributes to), streams PUTs in flight on one HTTP/2 connection. With
// attribute the listener credits every body to its sender in a
// transport.Attribution, as edged's does; without, Ingress is nil. The
// store keeps nothing, so the attribution's share of the cost is as large
// as it can be.
func IngressRate(ctx context.Context, p labsetup.TLSPaths, attribute bool, senders, size, streams int, d time.Duration) (Rate, *transport.Attribution, error) {
	h := &transport.SegmentHandler{Store: discardStore{}, MaxBytes: 64 << 20}
	var attr *transport.Attribution
	if attribute {
		attr = &transport.Attribution{MaxPeers: senders}
		h.Ingress = attr
	}
	srv, err := StartServer(p, h)
	if err != nil {
		return Rate{}, nil, err
	}
	defer srv.Close()
	cfg, err := p.EdgedFiles().ClientConfig()
	if err != nil {
		return Rate{}, nil, err
	}
	cfg.ServerName = p.PeerID
	tr := &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	sessions := make([]string, senders)
	for i := range sessions {
		sessions[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	base := "https://" + srv.Addr + transport.SegmentsPath + "ingress-"
	payload := bytes.Repeat([]byte{'i'}, size)
	length := strconv.Itoa(size)
	var next atomic.Int64
	put := func(ctx context.Context) error {
		n := next.Add(1)
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, base+strconv.FormatInt(n, 10), bytes.NewReader(payload))
		if err != nil {
			return err
		}
		req.ContentLength = int64(size)
		req.Header.Set("Content-Length", length)
		req.Header.Set(transport.HeaderSessionID, sessions[n%int64(senders)])
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("ingress PUT: answered %s", resp.Status)
		}
		return nil
	}
	// Open the connection outside the measured time.
	if err := put(ctx); err != nil {
		return Rate{}, nil, err
	}
	n, el, err := parallel(ctx, streams, d, put)
	return Rate{Ops: n, Bytes: n * int64(size), Elapsed: el}, attr, err
}
