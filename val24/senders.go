package val24

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http/httptrace"
	"path/filepath"
	"sync"
	"time"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// putTimeout bounds one PUT to edged's listener.
const putTimeout = 10 * time.Second

// senderClients are one plan's clients: one transport.Client each, and so
// one connection pool each, which is how a sender uses several connections.
func (r *run) senderClients(p SenderPlan, certs map[string]transport.TLSFiles) ([]*transport.Client, error) {
	files, ok := certs[p.Cert]
	if !ok {
		return nil, fmt.Errorf("no certificate issued for %s", p.Cert)
	}
	tlsCfg, err := files.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("sender %s: %w", p.Name, err)
	}
	clients := make([]*transport.Client, p.Conns)
	for i := range clients {
		clients[i] = &transport.Client{TLS: tlsCfg, PeerID: p.PeerID, SessionID: p.Session, Timeout: putTimeout}
	}
	return clients, nil
}

// issueSenderCerts issues the client certificates of every sender identity
// from the scenario's lab CA.
func (r *run) issueSenderCerts() (map[string]transport.TLSFiles, error) {
	return labsetup.IssueClientCerts(r.tls.Dir, filepath.Join(r.Work, "senders"), labsetup.CertOptions{},
		Sender1, Sender2, LegacySender)
}

// put sends one segment over client and records the answer, with the
// local address of the connection it went over.
func put(ctx context.Context, addr string, client *transport.Client, p SenderPlan, conn int, id, target string, size int, phase string) Send {
	payload := labsetup.Payload(id, size)
	s := Send{
		Sender: p.Name, Cert: p.Cert, PeerID: p.PeerID, Session: p.Session, Conn: conn,
		ID: id, Target: target, Bytes: int64(size), SHA256: fmt.Sprintf("%x", sha256.Sum256(payload)),
		Phase: phase, At: time.Now(),
	}
	var mu sync.Mutex
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		defer mu.Unlock()
		s.LocalAddr = info.Conn.LocalAddr().String()
	}}
	ctx = httptrace.WithClientTrace(ctx, trace)
	created, err := client.Deliver(ctx, transport.Delivery{
		Addr: addr, ServerName: NodeID, ID: id, TargetPeer: target, Payload: payload,
	})
	mu.Lock()
	defer mu.Unlock()
	var se *transport.StatusError
	switch {
	case err == nil && created:
		s.Code = 201
	case err == nil:
		s.Code = 200
	case errors.As(err, &se):
		s.Code, s.Error = se.Code, se.Message
	default:
		s.Error = err.Error()
	}
	return s
}
