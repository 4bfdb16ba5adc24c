package transport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Incoming is a segment as a SegmentHandler accepted it.
type Incoming struct {
	ID         string
	Payload    []byte
	FromPeer   string // declared Edge-Peer-Id, else the certificate identity
	Session    string // Edge-Session-Id
	TargetPeer string // Edge-Target-Peer
	// Identity is who the bytes are credited to: the declared peer id, else
	// (an old client) SessionKey of the session id, "session:<uuid>".
	Identity string
}

// Store keeps incoming segments. Put reports created=false when the id is
// already held: a redelivery is not a second segment.
type Store interface {
	Put(ctx context.Context, seg Incoming) (created bool, err error)
}

// SegmentHandler serves PUT /v1/segments/{id} and the batched POST
// /v1/segments:batch (batch.go) for a Store.
type SegmentHandler struct {
	Store    Store
	MaxBytes int64        // larger bodies get 413
	Ingress  *Attribution // credited for every accepted body; may be nil
	Log      *slog.Logger

	// MaxInFlightBytes bounds the bytes of bodies held in memory across all
	// connections; 0 means DefaultMaxInFlightBytes. A body that cannot get
	// budget within BudgetWait is refused with 503 and Retry-After.
	MaxInFlightBytes int64
	// BudgetWait is how long a body waits for budget; 0 means
	// DefaultBudgetWait.
	BudgetWait time.Duration
	// BodyIdleTimeout ends a body that sends nothing for this long; 0 means
	// DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
	// MaxBatchSegments bounds the segments of one batched request (POST
	// /v1/segments:batch); 0 means MaxBatchSegments. The payloads of a
	// batch are bounded by MaxBytes together.
	MaxBatchSegments int

	budgetOnce sync.Once
	budget     *byteBudget
	bodies     atomic.Int64
}

// Bodies is the number of request bodies being read now.
func (h *SegmentHandler) Bodies() int64 { return h.bodies.Load() }

func (h *SegmentHandler) bodyBudget() *byteBudget {
	h.budgetOnce.Do(func() {
		n := h.MaxInFlightBytes
		if n <= 0 {
			n = DefaultMaxInFlightBytes
		}
		h.budget = newByteBudget(n)
	})
	return h.budget
}

func (h *SegmentHandler) budgetWait() time.Duration {
	if h.BudgetWait > 0 {
		return h.BudgetWait
	}
	return DefaultBudgetWait
}

func (h *SegmentHandler) bodyIdle() time.Duration {
	if h.BodyIdleTimeout > 0 {
		return h.BodyIdleTimeout
	}
	return DefaultBodyIdleTimeout
}

// InFlightBytes is the body bytes the handler holds in memory now.
func (h *SegmentHandler) InFlightBytes() int64 { return h.bodyBudget().inUse() }

func httpError(w http.ResponseWriter, code int, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}

func (h *SegmentHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := h.Log
	if log == nil {
		log = slog.Default()
	}
	if r.URL.Path == BatchPath {
		h.serveBatch(w, r, log)
		return
	}
	if r.Method != http.MethodPut {
		w.Header().Set("Allow", http.MethodPut)
		httpError(w, http.StatusMethodNotAllowed, "method %s not allowed, use PUT", r.Method)
		return
	}
	id, ok := strings.CutPrefix(r.URL.Path, SegmentsPath)
	if !ok {
		httpError(w, http.StatusNotFound, "no such path %q", r.URL.Path)
		return
	}
	if err := ValidateID(id); err != nil {
		httpError(w, http.StatusBadRequest, "%v", err)
		return
	}
	snd, ok := h.checkSender(w, r, log, "id", id)
	if !ok {
		return
	}
	identity := snd.identity
	if r.ContentLength < 0 {
		httpError(w, http.StatusLengthRequired, "Content-Length is required")
		return
	}
	if h.MaxBytes > 0 && r.ContentLength > h.MaxBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "segment of %d bytes exceeds the limit of %d", r.ContentLength, h.MaxBytes)
		return
	}
	budget := h.bodyBudget()
	h.bodies.Add(1)
	bodyDone := sync.OnceFunc(func() { h.bodies.Add(-1) })
	defer bodyDone()
	var held int64
	defer func() { budget.release(held) }()
	wait, idle := h.budgetWait(), h.bodyIdle()
	payload, err := readBody(w, r, r.ContentLength, budget, wait, idle, &held)
	switch {
	case errors.Is(err, errBudget):
		log.Warn("segment refused: in-flight body budget spent", "id", id, "identity", identity,
			"declared_bytes", r.ContentLength, "in_flight_bytes", budget.inUse())
		w.Header().Set("Retry-After", "1")
		httpError(w, http.StatusServiceUnavailable, "busy: %d bytes of bodies in flight, retry later", budget.inUse())
		return
	case errors.Is(err, errBodyIdle):
		log.Warn("segment abandoned: body stopped sending", "id", id, "identity", identity, "err", err)
		httpError(w, http.StatusRequestTimeout, "%v", err)
		return
	case err != nil:
		httpError(w, http.StatusBadRequest, "body shorter than Content-Length %d: %v", r.ContentLength, err)
		return
	}
	bodyDone()
	code, msg := h.put(r.Context(), log, Incoming{
		ID: id, Payload: payload, FromPeer: snd.from, Session: snd.session,
		TargetPeer: r.Header.Get(HeaderTargetPeer), Identity: identity,
	})
	if code >= 300 {
		httpError(w, code, "%s", msg)
		return
	}
	w.WriteHeader(code)
}

// put stores one segment and says what the single PUT answers for it: 201
// created, 200 already held with this body, or an error status and its
// message (409 another body, 400 refused by the store, 500 failed).
// Accepted bytes are credited to the sender.
func (h *SegmentHandler) put(ctx context.Context, log *slog.Logger, in Incoming) (code int, msg string) {
	created, err := h.Store.Put(ctx, in)
	if err != nil {
		var bad *BadSegmentError
		if errors.As(err, &bad) {
			return http.StatusBadRequest, err.Error()
		}
		var conflict *ConflictError
		if errors.As(err, &conflict) {
			log.Warn("segment refused: the id is held with another body", "id", in.ID, "from_peer", in.FromPeer, "bytes", len(in.Payload))
			return http.StatusConflict, err.Error()
		}
		log.Error("store segment", "id", in.ID, "err", err)
		return http.StatusInternalServerError, fmt.Sprintf("store segment %s: %v", in.ID, err)
	}
	if h.Ingress != nil {
		h.Ingress.Add(in.Identity, int64(len(in.Payload)))
	}
	if created {
		return http.StatusCreated, ""
	}
	return http.StatusOK, ""
}

// sender is who sent a request, as the certificate and the sender headers
// say.
type sender struct {
	from     string // declared Edge-Peer-Id, else the certificate identity
	identity string // who the bytes are credited to
	session  string
}

// checkSender checks a request's certificate and sender headers, for a
// single PUT and a batch alike; it answers the request and returns false
// when they are refused. logKey and logVal name the request in the log.
func (h *SegmentHandler) checkSender(w http.ResponseWriter, r *http.Request, log *slog.Logger, logKey, logVal string) (sender, bool) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		httpError(w, http.StatusUnauthorized, "client certificate required")
		return sender{}, false
	}
	certID := Identity(r.TLS.PeerCertificates[0])
	declared := r.Header.Get(HeaderPeerID)
	session := r.Header.Get(HeaderSessionID)
	if declared != "" && declared != certID {
		log.Warn("segment refused: declared peer id contradicts certificate",
			logKey, logVal, "declared", declared, "certificate", certID)
		httpError(w, http.StatusForbidden, "declared %s %q contradicts the client certificate identity %q",
			HeaderPeerID, declared, certID)
		return sender{}, false
	}
	if declared != "" && ReservedIdentity(declared) {
		log.Warn("segment refused: peer id in a reserved namespace", logKey, logVal, "declared", declared)
		httpError(w, http.StatusForbidden, "%s %q is in a namespace reserved for sessions and the overflow series",
			HeaderPeerID, declared)
		return sender{}, false
	}
	if session != "" {
		if err := ValidateSessionID(session); err != nil {
			httpError(w, http.StatusBadRequest, "%s: %v", HeaderSessionID, err)
			return sender{}, false
		}
	}
	identity := declared
	if identity == "" && session != "" {
		identity = SessionKey(session)
	}
	if identity == "" {
		httpError(w, http.StatusBadRequest, "%s or %s is required", HeaderPeerID, HeaderSessionID)
		return sender{}, false
	}
	from := declared
	if from == "" {
		from = certID
	}
	return sender{from: from, identity: identity, session: session}, true
}

// BadSegmentError is returned by a Store that refuses a segment because of
// what the sender sent (answered 400, not 500).
type BadSegmentError struct{ Reason string }

// ConflictError is a Store's answer to a segment id it already holds with
// another body: answered 409 naming the id, the body held kept.
type ConflictError struct{ ID string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("segment %s is already held with a different body; the one held is kept", e.ID)
}

func (e *BadSegmentError) Error() string { return e.Reason }
