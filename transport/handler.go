package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Incoming is a segment as a SegmentHandler accepted it.
type Incoming struct {
	ID         string
	Payload    []byte
	FromPeer   string // declared Edge-Peer-Id, else the certificate identity
	Session    string // Edge-Session-Id
	TargetPeer string // Edge-Target-Peer
	// Identity is who the bytes are credited to: the declared peer id, else
	// (an old client) the session id.
	Identity string
}

// Store keeps incoming segments. Put reports created=false when the id is
// already held: a redelivery is not a second segment.
type Store interface {
	Put(ctx context.Context, seg Incoming) (created bool, err error)
}

// SegmentHandler serves PUT /v1/segments/{id} for a Store.
type SegmentHandler struct {
	Store    Store
	MaxBytes int64        // larger bodies get 413
	Ingress  *Attribution // credited for every accepted body; may be nil
	Log      *slog.Logger
}

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
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		httpError(w, http.StatusUnauthorized, "client certificate required")
		return
	}
	certID := Identity(r.TLS.PeerCertificates[0])
	declared := r.Header.Get(HeaderPeerID)
	session := r.Header.Get(HeaderSessionID)
	if declared != "" && declared != certID {
		log.Warn("segment refused: declared peer id contradicts certificate",
			"id", id, "declared", declared, "certificate", certID)
		httpError(w, http.StatusForbidden, "declared %s %q contradicts the client certificate identity %q",
			HeaderPeerID, declared, certID)
		return
	}
	identity := declared
	if identity == "" {
		identity = session
	}
	if identity == "" {
		httpError(w, http.StatusBadRequest, "%s or %s is required", HeaderPeerID, HeaderSessionID)
		return
	}
	if r.ContentLength < 0 {
		httpError(w, http.StatusLengthRequired, "Content-Length is required")
		return
	}
	if h.MaxBytes > 0 && r.ContentLength > h.MaxBytes {
		httpError(w, http.StatusRequestEntityTooLarge, "segment of %d bytes exceeds the limit of %d", r.ContentLength, h.MaxBytes)
		return
	}
	payload := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, payload); err != nil {
		httpError(w, http.StatusBadRequest, "body shorter than Content-Length %d: %v", r.ContentLength, err)
		return
	}
	from := declared
	if from == "" {
		from = certID
	}
	created, err := h.Store.Put(r.Context(), Incoming{
		ID: id, Payload: payload, FromPeer: from, Session: session,
		TargetPeer: r.Header.Get(HeaderTargetPeer), Identity: identity,
	})
	if err != nil {
		var bad *BadSegmentError
		if errors.As(err, &bad) {
			httpError(w, http.StatusBadRequest, "%v", err)
			return
		}
		log.Error("store segment", "id", id, "err", err)
		httpError(w, http.StatusInternalServerError, "store segment %s: %v", id, err)
		return
	}
	if h.Ingress != nil {
		h.Ingress.Add(identity, int64(len(payload)))
	}
	if created {
		w.WriteHeader(http.StatusCreated)
	} else {
		w.WriteHeader(http.StatusOK)
	}
}

// BadSegmentError is returned by a Store that refuses a segment because of
// what the sender sent (answered 400, not 500).
type BadSegmentError struct{ Reason string }

func (e *BadSegmentError) Error() string { return e.Reason }
