package received

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"edgelab/transport"
)

// Options configures a Store.
type Options struct {
	// Path is the evidence file; empty keeps the evidence in memory only.
	Path   string
	PeerID string
	// Ingress is credited for every accepted body. nil: a new Attribution
	// with the default cap.
	Ingress *transport.Attribution
	Now     func() time.Time
	Log     *slog.Logger
	// Fresh starts with no segments, replacing an existing evidence file.
	// Without it an existing file is loaded and the store continues it, so
	// a peer restarted after a crash keeps what it acknowledged before.
	Fresh bool
}

// Store is the lab peer's transport.Store: it keeps one entry per segment
// id, in receive order, and rewrites the evidence file after every change.
//
// The store, not the SegmentHandler, credits ingress bytes: the handler
// credits only after Put returns, which would leave every evidence file one
// body behind. Crediting under the store's lock makes each file a
// consistent snapshot of segments and bytes. Serve it with a SegmentHandler
// whose Ingress is nil, or bytes are counted twice.
type Store struct {
	path    string
	peerID  string
	ingress *transport.Attribution
	now     func() time.Time
	log     *slog.Logger

	mu    sync.Mutex // guards everything below
	segs  []Segment
	index map[string]int

	// Group commit: a Put applies its change at once and waits until a
	// written file includes it. One Put at a time writes, for every change
	// made so far; changes that arrive meanwhile go into the next write.
	// Concurrent senders thus share writes instead of each rewriting the
	// whole file in turn, and no Put is answered before the file holds it.
	written  *sync.Cond // signalled after every write
	writing  bool
	version  int64     // changes applied
	unsynced []*change // applied, not yet in a written file, oldest first
}

// change is one Put waiting for a write that includes it.
type change struct {
	version  int64
	id       string
	created  bool
	identity string
	bytes    int64
	done     bool
	err      error
}

// NewStore returns a store for opts.Path. An existing evidence file is
// loaded and continued (unless opts.Fresh): a peer that acknowledged a
// segment must still hold it after a crash and restart, and count a
// redelivery of it as one. A file that is not valid evidence of this peer
// is refused with an error naming it, and left as it is. Temporary files
// that a crash in the middle of a write left beside it are removed. Then
// the evidence file is written at once, so a reader finds valid JSON from
// the start.
func NewStore(opts Options) (*Store, error) {
	s := &Store{
		path:    opts.Path,
		peerID:  opts.PeerID,
		ingress: opts.Ingress,
		now:     opts.Now,
		log:     opts.Log,
		index:   map[string]int{},
	}
	s.written = sync.NewCond(&s.mu)
	if s.ingress == nil {
		s.ingress = &transport.Attribution{}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.path == "" {
		return s, nil
	}
	if !opts.Fresh {
		if err := s.resume(); err != nil {
			return nil, err
		}
	}
	removeStaleTemps(s.path, s.log)
	if err := WriteFile(s.path, s.snapshotLocked()); err != nil {
		return nil, err
	}
	return s, nil
}

// resume loads the evidence file, if there is one, into the empty store.
func (s *Store) resume() error {
	data, err := os.ReadFile(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resume peer evidence: %w", err)
	}
	ev, err := Decode(data)
	if err == nil {
		err = ev.Validate()
	}
	if err != nil {
		return fmt.Errorf("resume peer evidence %s: %w (the file is left as it is; --fresh replaces it)", s.path, err)
	}
	if ev.PeerID != s.peerID {
		return fmt.Errorf("resume peer evidence %s: it belongs to peer %q, not %q (the file is left as it is; --fresh replaces it)", s.path, ev.PeerID, s.peerID)
	}
	s.segs = append(make([]Segment, 0, len(ev.Segments)), ev.Segments...)
	for i, seg := range s.segs {
		s.index[seg.ID] = i
	}
	s.ingress.Restore(ev.Ingress.ByPeer)
	s.log.Info("resumed peer evidence", "path", s.path, "segments", len(s.segs), "ingress_bytes", ev.Ingress.Bytes)
	return nil
}

// tempPattern names WriteFile's temporary files beside path.
func tempPattern(path string) string { return "." + filepath.Base(path) + ".tmp-*" }

// removeStaleTemps deletes the temporary files of path that a process
// killed in the middle of WriteFile left behind; none of them ever was the
// evidence file, since the rename that would have made it one did not
// happen.
func removeStaleTemps(path string, log *slog.Logger) {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), tempPattern(path)))
	if err != nil {
		return // only a malformed pattern fails, and this one is fixed
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("remove stale evidence temp file", "path", m, "err", err)
			continue
		}
		log.Info("removed stale evidence temp file", "path", m)
	}
}

// Path is the evidence file ("" when in memory only).
func (s *Store) Path() string { return s.path }

// Ingress is the attribution the store credits.
func (s *Store) Ingress() *transport.Attribution { return s.ingress }

// Put records a segment: a new id is appended (created), an id already held
// counts one more delivery. The evidence file is rewritten before Put
// returns, so a sender that got 201/200 can find its segment in it. If the
// file cannot be written, the change is undone and an error returned.
func (s *Store) Put(_ context.Context, in transport.Incoming) (created bool, err error) {
	if err := transport.ValidateID(in.ID); err != nil {
		return false, &transport.BadSegmentError{Reason: err.Error()}
	}
	identity := in.Identity
	if identity == "" {
		identity = in.FromPeer
	}
	n := int64(len(in.Payload))
	sum := sha256.Sum256(in.Payload)
	digest := hex.EncodeToString(sum[:])

	s.mu.Lock()
	defer s.mu.Unlock()
	i, held := s.index[in.ID]
	if held {
		seg := &s.segs[i]
		seg.Deliveries++
		if seg.SHA256 != digest {
			s.log.Warn("redelivery differs from the segment held; keeping the first",
				"id", in.ID, "held_sha256", seg.SHA256, "new_sha256", digest, "from_peer", in.FromPeer)
		}
	} else {
		s.index[in.ID] = len(s.segs)
		s.segs = append(s.segs, Segment{
			ID: in.ID, Bytes: n, SHA256: digest, FromPeer: in.FromPeer, Session: in.Session,
			TargetPeer: in.TargetPeer, ReceivedAt: s.now().UTC(), Deliveries: 1,
		})
	}
	s.ingress.Add(identity, n)
	if s.path == "" {
		return !held, nil
	}
	s.version++
	c := &change{version: s.version, id: in.ID, created: !held, identity: identity, bytes: n}
	s.unsynced = append(s.unsynced, c)
	for !c.done {
		if s.writing {
			s.written.Wait()
			continue
		}
		s.writeLocked()
	}
	if c.err != nil {
		return false, fmt.Errorf("record segment %s: %w", in.ID, c.err)
	}
	return c.created, nil
}

// writeLocked writes every change applied so far, with s.mu held on entry
// and exit but not during the write. On failure the changes not yet in a
// file are undone and their Puts fail, so a sender's retry is recorded as
// what it is and the next file written agrees with what was answered.
func (s *Store) writeLocked() {
	s.writing = true
	snap, upTo := s.snapshotLocked(), s.version
	s.mu.Unlock()
	err := WriteFile(s.path, snap)
	s.mu.Lock()
	s.writing = false

	var done []*change
	if err == nil {
		n := 0
		for n < len(s.unsynced) && s.unsynced[n].version <= upTo {
			n++
		}
		done = s.unsynced[:n]
		s.unsynced = append([]*change(nil), s.unsynced[n:]...)
	} else {
		// Every change not yet in a file fails, newest undone first, so
		// each undo finds the state its change left (a redelivery of a
		// segment created earlier in the same batch is undone before it).
		done, s.unsynced = s.unsynced, nil
		for i := len(done) - 1; i >= 0; i-- {
			s.undoLocked(done[i])
		}
		// A failure after the rename (syncing the directory) leaves the
		// undone changes visible; put the file back in line, if possible.
		if rerr := WriteFile(s.path, s.snapshotLocked()); rerr != nil {
			s.log.Error("rewrite evidence after a failed write", "path", s.path, "err", rerr)
		}
	}
	for _, c := range done {
		c.done, c.err = true, err
	}
	s.written.Broadcast()
}

// undoLocked reverts one change, the newest not yet undone.
func (s *Store) undoLocked(c *change) {
	s.ingress.Add(c.identity, -c.bytes)
	i := s.index[c.id]
	if !c.created {
		s.segs[i].Deliveries--
		return
	}
	s.segs = append(s.segs[:i], s.segs[i+1:]...)
	delete(s.index, c.id)
	for j := i; j < len(s.segs); j++ {
		s.index[s.segs[j].ID] = j
	}
}

// Evidence is a copy of what the store holds now.
func (s *Store) Evidence() Evidence {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshotLocked()
}

func (s *Store) snapshotLocked() Evidence {
	total, byPeer := s.ingress.Snapshot()
	return Evidence{
		PeerID:   s.peerID,
		Segments: append(make([]Segment, 0, len(s.segs)), s.segs...),
		Ingress:  Ingress{Bytes: total, ByPeer: byPeer},
	}
}

// WriteFile writes ev to path atomically: a temporary file in the same
// directory is written, synced and renamed over path, and the directory is
// synced, so a reader sees the old file or the new one, never a torn one.
func WriteFile(path string, ev Evidence) (err error) {
	data, err := Encode(ev)
	if err != nil {
		return fmt.Errorf("encode evidence %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; evidence is for reviewers to read.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write evidence %s: sync: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write evidence %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is.
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write evidence %s: sync dir: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("write evidence %s: sync dir %s: %w", path, dir, err)
	}
	return nil
}

// Encode is the evidence file's content: indented JSON with a final
// newline, empty lists written as [] and {} rather than null.
func Encode(ev Evidence) ([]byte, error) {
	if ev.Segments == nil {
		ev.Segments = []Segment{}
	}
	if ev.Ingress.ByPeer == nil {
		ev.Ingress.ByPeer = map[string]int64{}
	}
	data, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// ReadFile reads and parses an evidence file (see Decode).
func ReadFile(path string) (Evidence, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Evidence{}, fmt.Errorf("read peer evidence: %w", err)
	}
	ev, err := Decode(data)
	if err != nil {
		return Evidence{}, fmt.Errorf("parse peer evidence %s: %w", path, err)
	}
	return ev, nil
}
