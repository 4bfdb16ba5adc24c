package transport

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The batched transfer (DESIGN.md §7, "Batched transfer (issue #17)"): one
// request carries several segments, each acknowledged and idempotent on its
// own, as if it had been PUT singly.
//
//	POST /v1/segments:batch
//	Content-Type: application/x-edgelab-segment-batch
//	Edge-Batch-Count: <segments in the body>
//	Edge-Peer-Id, Edge-Session-Id, Edge-Target-Peer: as the single PUT
//
//	body   = count × record
//	record = uvarint(len(id)) id uvarint(len(payload)) payload
//
// The answer is 200 with a JSON BatchResponse, one BatchResult per record in
// body order; any other status refuses the request as a whole.
const (
	BatchPath        = "/v1/segments:batch"
	BatchContentType = "application/x-edgelab-segment-batch"
	HeaderBatchCount = "Edge-Batch-Count"
	// MaxBatchSegments is the most records one batch may carry (the
	// handler's default bound and the Batcher's default group size).
	MaxBatchSegments = 256
	// MaxBatchRecordOverhead is the most a record's framing adds to its
	// payload: two uvarints and the longest id.
	MaxBatchRecordOverhead = 2*binary.MaxVarintLen64 + MaxIDLen
)

// BatchResult is the answer for one segment of a batch: the status the
// single PUT would have answered (201 created, 200 already held with this
// body, 409 held with another, 400 bad id or refused, 413 too large, 500
// not stored) and, unless 2xx, why.
type BatchResult struct {
	ID     string `json:"id"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Created reports a 201.
func (r BatchResult) Created() bool { return r.Status == http.StatusCreated }

// Err is nil for 201 and 200, else the *StatusError the single PUT's
// client would have returned.
func (r BatchResult) Err() error {
	if r.Status == http.StatusCreated || r.Status == http.StatusOK {
		return nil
	}
	return &StatusError{Code: r.Status, Message: r.Error}
}

// BatchResponse is the body of a batch's 200.
type BatchResponse struct {
	Results []BatchResult `json:"results"`
}

// AppendBatchRecord appends one record's framing for a payload of size
// bytes under id; the payload's bytes follow it.
func AppendBatchRecord(dst []byte, id string, size int64) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(id)))
	dst = append(dst, id...)
	return binary.AppendUvarint(dst, uint64(size))
}

// maxBatchBody is the longest body a batch of count records may declare:
// the payloads at most maxBytes together, plus each record's framing.
func maxBatchBody(maxBytes int64, count int) int64 {
	return maxBytes + int64(count)*MaxBatchRecordOverhead
}

// batchError is a reason to refuse a batch as a whole once its body is
// being read.
type batchError struct {
	code int
	msg  string
}

func (e *batchError) Error() string { return e.msg }

// serveBatch serves POST /v1/segments:batch. Records are read one at a
// time, each into a buffer that grows with what arrived (readN, the single
// PUT's), stored and released before the next: a batch holds no more
// memory than one single PUT of its largest segment.
func (h *SegmentHandler) serveBatch(w http.ResponseWriter, r *http.Request, log *slog.Logger) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "method %s not allowed on %s, use POST", r.Method, BatchPath)
		return
	}
	snd, ok := h.checkSender(w, r, log, "batch", r.Header.Get(HeaderBatchCount))
	if !ok {
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != BatchContentType {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type %q: a batch is %s", r.Header.Get("Content-Type"), BatchContentType)
		return
	}
	maxSegs := h.MaxBatchSegments
	if maxSegs <= 0 {
		maxSegs = MaxBatchSegments
	}
	count, err := strconv.Atoi(r.Header.Get(HeaderBatchCount))
	switch {
	case err != nil || count < 1:
		httpError(w, http.StatusBadRequest, "%s %q: want the number of segments in the body, at least 1", HeaderBatchCount, r.Header.Get(HeaderBatchCount))
		return
	case count > maxSegs:
		httpError(w, http.StatusRequestEntityTooLarge, "batch of %d segments exceeds the limit of %d", count, maxSegs)
		return
	}
	if r.ContentLength < 0 {
		httpError(w, http.StatusLengthRequired, "Content-Length is required")
		return
	}
	if h.MaxBytes > 0 && r.ContentLength > maxBatchBody(h.MaxBytes, count) {
		httpError(w, http.StatusRequestEntityTooLarge, "batch of %d bytes exceeds the limit of %d for %d segments (%d of payloads, %d of framing per segment)",
			r.ContentLength, maxBatchBody(h.MaxBytes, count), count, h.MaxBytes, MaxBatchRecordOverhead)
		return
	}
	budget := h.bodyBudget()
	h.bodies.Add(1)
	bodyDone := sync.OnceFunc(func() { h.bodies.Add(-1) })
	defer bodyDone()
	var held int64
	defer func() { budget.release(held) }()
	wait, idle := h.budgetWait(), h.bodyIdle()
	// A small buffer: what an idle stream holds before any budget is
	// taken, as the single PUT's first chunk.
	br := bufio.NewReaderSize(&deadlineReader{rc: http.NewResponseController(w), r: r.Body, idle: idle}, 4<<10)
	target := r.Header.Get(HeaderTargetPeer)
	results := make([]BatchResult, 0, count)
	for i := range count {
		res, err := h.batchRecord(r, log, br, snd, target, budget, wait, idle, &held, i, count)
		budget.release(held)
		held = 0
		if err != nil {
			var be *batchError
			if !errors.As(err, &be) {
				be = readFailure(err, i, count)
			}
			if be.code == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			log.Warn("batch refused", "identity", snd.identity, "segments", count, "stored", i, "status", be.code, "err", be.msg)
			httpError(w, be.code, "%s", be.msg)
			return
		}
		results = append(results, res)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err == nil {
			err = &batchError{http.StatusBadRequest, fmt.Sprintf("body continues after the %d segments of %s", count, HeaderBatchCount)}
		}
		var be *batchError
		if !errors.As(err, &be) {
			be = readFailure(err, count, count)
		}
		httpError(w, be.code, "%s", be.msg)
		return
	}
	bodyDone()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(BatchResponse{Results: results}) // the client went away
}

// readFailure is the answer to a batch whose body could not be read.
func readFailure(err error, i, count int) *batchError {
	switch {
	case errors.Is(err, errBudget):
		return &batchError{http.StatusServiceUnavailable, "busy: the in-flight body budget is spent, retry later"}
	case errors.Is(err, errBodyIdle), errors.Is(err, errReadIdle):
		return &batchError{http.StatusRequestTimeout, fmt.Sprintf("body idle in segment %d of %d: %v", i+1, count, err)}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &batchError{http.StatusBadRequest, fmt.Sprintf("body ends in segment %d of the %d of %s", i+1, count, HeaderBatchCount)}
	}
	return &batchError{http.StatusBadRequest, fmt.Sprintf("segment %d of %d: %v", i+1, count, err)}
}

// batchRecord reads record i of a batch and stores it; the result is the
// segment's own answer, an error refuses the whole batch.
func (h *SegmentHandler) batchRecord(r *http.Request, log *slog.Logger, br *bufio.Reader, snd sender, target string,
	budget *byteBudget, wait, idle time.Duration, held *int64, i, count int) (BatchResult, error) {
	idLen, err := binary.ReadUvarint(br)
	if err != nil {
		return BatchResult{}, err
	}
	var (
		id      string
		refused *BatchResult // the segment's answer when it is not stored
	)
	if idLen > MaxIDLen {
		refused = &BatchResult{Status: http.StatusBadRequest, Error: fmt.Sprintf("%v: %d characters, at most %d", ErrBadID, idLen, MaxIDLen)}
		if _, err := io.CopyN(io.Discard, br, int64(idLen)); err != nil {
			return BatchResult{}, err
		}
	} else {
		b := make([]byte, idLen)
		if _, err := io.ReadFull(br, b); err != nil {
			return BatchResult{}, err
		}
		id = string(b)
		if err := ValidateID(id); err != nil {
			refused = &BatchResult{ID: id, Status: http.StatusBadRequest, Error: err.Error()}
		}
	}
	size, err := binary.ReadUvarint(br)
	if err != nil {
		return BatchResult{}, err
	}
	if size > uint64(r.ContentLength) {
		return BatchResult{}, &batchError{http.StatusBadRequest, fmt.Sprintf("segment %d of %d declares %d bytes, more than the body's Content-Length %d", i+1, count, size, r.ContentLength)}
	}
	if refused == nil && h.MaxBytes > 0 && int64(size) > h.MaxBytes {
		refused = &BatchResult{ID: id, Status: http.StatusRequestEntityTooLarge, Error: fmt.Sprintf("segment of %d bytes exceeds the limit of %d", size, h.MaxBytes)}
	}
	if refused != nil {
		if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
			return BatchResult{}, err
		}
		return *refused, nil
	}
	payload, err := readN(r.Context(), br, int64(size), budget, wait, idle, held)
	if err != nil {
		return BatchResult{}, err
	}
	code, msg := h.put(r.Context(), log, Incoming{
		ID: id, Payload: payload, FromPeer: snd.from, Session: snd.session,
		TargetPeer: target, Identity: snd.identity,
	})
	return BatchResult{ID: id, Status: code, Error: msg}, nil
}
