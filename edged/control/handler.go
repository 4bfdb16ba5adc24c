package control

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"edgelab/edged/api"
)

// handlerFunc is an endpoint: it returns its error instead of writing it, so
// errors are turned into answers in exactly one place (serveError).
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

type route struct {
	method string
	serve  handlerFunc
}

type handler struct {
	backend Backend
	log     *slog.Logger
	routes  map[string]route
}

// NewHandler serves the control API for b: the versioned paths of package
// api, plus GET /metrics from metrics when it is not nil.
func NewHandler(b Backend, metrics http.Handler, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	h := &handler{backend: b, log: log}
	h.routes = map[string]route{
		api.PathStatus:    {http.MethodGet, h.status},
		api.PathBandwidth: {http.MethodPost, h.setBandwidth},
		api.PathLedger:    {http.MethodGet, h.ledger},
		api.PathHistory:   {http.MethodGet, h.history},
		api.PathDecisions: {http.MethodGet, h.decisions},
	}
	h.addOpsRoutes()  // ops.go: requeue, ingress report, lab clock
	h.addPruneRoute() // prune.go
	if metrics != nil {
		h.routes[api.PathMetrics] = route{http.MethodGet, func(w http.ResponseWriter, r *http.Request) error {
			metrics.ServeHTTP(w, r)
			return nil
		}}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rt, ok := h.routes[r.URL.Path]
	if !ok {
		h.serveError(w, r, &RequestError{Code: http.StatusNotFound, Msg: "no such path " + quote(r.URL.Path) + "; known paths: " + strings.Join(h.paths(), ", ")})
		return
	}
	if r.Method != rt.method {
		w.Header().Set("Allow", rt.method)
		h.serveError(w, r, &RequestError{Code: http.StatusMethodNotAllowed, Msg: "method " + r.Method + " not allowed on " + r.URL.Path + ", use " + rt.method})
		return
	}
	if err := rt.serve(w, r); err != nil {
		h.serveError(w, r, err)
	}
}

func (h *handler) paths() []string {
	ps := make([]string, 0, len(h.routes))
	for p := range h.routes {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}

// serveError answers err: a *RequestError with its own code, anything else
// with 500, logged because it is the daemon's fault, not the caller's.
func (h *handler) serveError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	var re *RequestError
	if errors.As(err, &re) && re.Code >= 400 && re.Code <= 599 {
		code = re.Code
	}
	switch {
	case r.Context().Err() != nil && errors.Is(err, r.Context().Err()):
		// The caller hung up: not the daemon's fault; the answer below
		// most likely reaches nobody.
		h.log.Info("control request abandoned by its caller", "method", r.Method, "path", r.URL.Path, "err", err)
	case code >= 500:
		h.log.Error("control request failed", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	default:
		h.log.Info("control request refused", "method", r.Method, "path", r.URL.Path, "code", code, "err", err)
	}
	writeJSON(w, code, api.Error{Error: err.Error()})
}

func (h *handler) status(w http.ResponseWriter, r *http.Request) error {
	st, err := h.backend.Status(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (h *handler) ledger(w http.ResponseWriter, r *http.Request) error {
	l, err := h.backend.Ledger(r.Context())
	if err != nil {
		return err
	}
	if l.Segments == nil {
		l.Segments = []api.Segment{} // "segments":[] rather than null
	}
	for i := range l.Segments {
		if l.Segments[i].History == nil {
			l.Segments[i].History = []api.Attempt{}
		}
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (h *handler) history(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("id")
	if id == "" {
		return &RequestError{Code: http.StatusBadRequest, Msg: `missing query parameter "id": use GET ` + api.PathHistory + `?id=SEGMENT_ID`}
	}
	seg, err := h.backend.History(r.Context(), id)
	if err != nil {
		return err
	}
	if seg.History == nil {
		seg.History = []api.Attempt{}
	}
	writeJSON(w, http.StatusOK, seg)
	return nil
}

func (h *handler) decisions(w http.ResponseWriter, r *http.Request) error {
	d, err := h.backend.Decisions(r.Context())
	if err != nil {
		return err
	}
	if d.Decisions == nil {
		d.Decisions = []api.Decision{}
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (h *handler) setBandwidth(w http.ResponseWriter, r *http.Request) error {
	if r.ContentLength > MaxRequestBytes {
		return tooLarge()
	}
	req, err := DecodeBandwidthRequest(http.MaxBytesReader(w, r.Body, MaxRequestBytes+1))
	if err != nil {
		return err
	}
	actor := Actor(r.Context())
	// Once decoded, a change is made to its end even if the caller hangs
	// up: a half-made change (live but unaudited) is worse than an answer
	// nobody reads.
	resp, err := h.backend.SetBandwidth(context.WithoutCancel(r.Context()), req, actor)
	if err != nil {
		return err
	}
	if resp.Warnings == nil {
		resp.Warnings = []string{} // "warnings":[] as DESIGN.md shows it
	}
	h.log.Info("bandwidth set over control API", "actor", actor, "peer", req.Peer, "reset", req.Reset,
		"bytes_per_second", resp.Bandwidth.BytesPerSecond, "burst_bytes", resp.Bandwidth.BurstBytes,
		"daily_quota_bytes", resp.Bandwidth.DailyQuotaBytes, "applied", resp.Applied)
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		body, _ = json.Marshal(api.Error{Error: "encode answer: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	w.Write(append(body, '\n'))
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// MaxHeaderBytes caps a control request's header (net/http allows 4 KiB of
// slack above it); the CLI sends well under 1 KiB. A larger header is
// answered 431.
const MaxHeaderBytes = 16 << 10

// NewServer returns an http.Server for the control API that records each
// caller's credentials (see ConnContext). Serve it on the listener of Listen.
func NewServer(h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.Default()
	}
	// A client that connects and then sends slowly, never reads its
	// answer, or keeps an idle connection must not hold a connection of
	// the daemon for ever.
	return &http.Server{
		Handler:           h,
		ConnContext:       ConnContext,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
