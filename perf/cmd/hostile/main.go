// Command hostile runs a real edged under hostile senders and prints what it
// cost (docs/PERFORMANCE.md, "Hostile senders"): 1,000 idle HTTP/2 streams
// declaring 1 MiB each, a flood of 300 TCP connections that never speak
// (re-opened as edged closes them), and PUTs under many distinct session
// ids, with edged's peak RSS (VmHWM) and a real sender's PUT latency.
//
//	go run ./perf/cmd/hostile [--edged path/to/edged] [--streams 1000] [--flood 300]
//
// Without --edged it builds ./edged of this module; pass an older build to
// measure the figures before a change. scripts/hostile/run.sh runs it.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"edgelab/edged/api"
	"edgelab/edged/control"
	"edgelab/internal/procstat"
	"edgelab/labs/harness"
	"edgelab/setup/labsetup"
	"edgelab/transport"
)

const (
	nodeID = "edge-hostile"
	peerID = "peer-hostile"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

type env struct {
	dir     string
	addr    string // edged's segment listener
	tls     labsetup.TLSPaths
	edged   *harness.Process
	control *control.Client
	client  *tls.Config // the sender's certificate (peer-hostile)
	log     *slog.Logger
}

func run() (err error) {
	var (
		edgedBin = flag.String("edged", "", "edged binary (default: build ./edged)")
		streams  = flag.Int("streams", 1000, "idle HTTP/2 streams, each declaring --declared bytes")
		declared = flag.Int64("declared", 1<<20, "bytes each idle stream declares")
		rounds   = flag.Int("rounds", 2, "rounds of idle streams, one after the other")
		hold     = flag.Duration("hold", 4*time.Second, "how long the idle streams are held while edged's memory is sampled")
		flood    = flag.Int("flood", 300, "idle TCP connections")
		window   = flag.Duration("window", 10*time.Second, "how long the real sender PUTs under the flood")
		sessions = flag.Int("sessions", 3000, "PUTs, each under a distinct session id")
		out      = flag.String("json", "", "also write the figures as JSON to this file")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))

	dir, err := os.MkdirTemp("", "hst")
	if err != nil {
		return fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(dir)
	if *edgedBin == "" {
		root, err := harness.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		bins, err := harness.Build(ctx, root, filepath.Join(dir, "bin"), []string{"./edged"})
		if err != nil {
			return err
		}
		*edgedBin = bins["edged"]
	}
	e, err := start(ctx, dir, *edgedBin, log)
	if err != nil {
		return err
	}
	defer e.edged.Stop(10 * time.Second)

	fig := figures{Edged: *edgedBin}
	defer func() {
		if err != nil {
			data, _ := os.ReadFile(filepath.Join(dir, "edged.log"))
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			fmt.Fprintf(os.Stderr, "edged log, last lines:\n%s\n", strings.Join(lines[max(0, len(lines)-20):], "\n"))
		}
	}()
	// Twice: the second round lands on heap the first one freed, which Go
	// zeroes (and so makes resident) as it reuses it, as it would in an
	// edged that has been running for a while.
	for range *rounds {
		if err := e.idleStreams(ctx, *streams, *declared, *hold, &fig); err != nil {
			return err
		}
	}
	if err := e.floodPhase(ctx, *flood, *window, &fig); err != nil {
		return err
	}
	if err := e.sessionsPhase(ctx, *sessions, &fig); err != nil {
		return err
	}
	if mem, err := procstat.Read(e.edged.Pid()); err == nil {
		fig.FinalHWMMiB = mem.HWM >> 20
	}
	fmt.Println(fig.table())
	if *out != "" {
		data, err := json.MarshalIndent(fig, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*out, data, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
	}
	return nil
}

// figures is what one run measured.
type figures struct {
	Edged string `json:"edged"`

	Streams         int    `json:"streams"`
	Declared        int64  `json:"declared_bytes"`
	StreamsHWMMiB   int64  `json:"streams_peak_rss_mib"`  // VmHWM after the idle streams
	StreamsInEdged  int64  `json:"streams_in_edged"`      // status listener.bodies, -1 when edged does not say
	StreamsBaseMiB  int64  `json:"baseline_rss_mib"`      // VmRSS before
	StreamsAnswered string `json:"streams_answers"`       // answers the idle streams got, by code
	Flood           int    `json:"flood"`                 // idle TCP connections
	FloodNewConn    lat    `json:"put_new_connection"`    // a new connection for every PUT
	FloodReused     lat    `json:"put_reused_connection"` // one connection opened under the flood
	FloodReopened   int64  `json:"flood_reopened"`        // idle connections edged closed, opened again
	Sessions        int    `json:"sessions"`              // PUTs under distinct session ids
	SessionKeys     int    `json:"session_keys"`          // ingress.by_peer keys after them
	SessionKinds    string `json:"session_key_kinds"`     // kinds of those keys
	SpoofAnswers    string `json:"spoof_session_answers"` // PUTs with session ids naming a peer, _overflow, 200 KiB
	FinalHWMMiB     int64  `json:"final_peak_rss_mib"`
}

type lat struct {
	N        int     `json:"n"`
	Failed   int     `json:"failed"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	FirstErr string  `json:"first_error,omitempty"`
}

func latOf(d []time.Duration, failed int, firstErr string) lat {
	l := lat{N: len(d), Failed: failed, FirstErr: firstErr}
	if len(d) == 0 {
		return l
	}
	slices.Sort(d)
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	l.P50Ms, l.P99Ms, l.MaxMs = ms(d[len(d)/2]), ms(d[(len(d)*99)/100]), ms(d[len(d)-1])
	return l
}

func (f figures) table() string {
	var b strings.Builder
	fmt.Fprintf(&b, "edged: %s\n", f.Edged)
	in := fmt.Sprint(f.StreamsInEdged)
	if f.StreamsInEdged < 0 {
		in = "n/a"
	}
	fmt.Fprintf(&b, "idle streams      %d × %d B declared: peak RSS %d MiB (baseline %d MiB), in edged's handler %s, answers %s\n",
		f.Streams, f.Declared, f.StreamsHWMMiB, f.StreamsBaseMiB, in, f.StreamsAnswered)
	fmt.Fprintf(&b, "idle TCP flood    %d connections (%d re-opened after edged closed them)\n", f.Flood, f.FloodReopened)
	for _, r := range []struct {
		name string
		l    lat
	}{{"  PUT, new conn  ", f.FloodNewConn}, {"  PUT, one conn  ", f.FloodReused}} {
		fmt.Fprintf(&b, "%s n=%d failed=%d p50 %.1f ms p99 %.1f ms max %.1f ms %s\n", r.name, r.l.N, r.l.Failed, r.l.P50Ms, r.l.P99Ms, r.l.MaxMs, r.l.FirstErr)
	}
	fmt.Fprintf(&b, "session ids       %d distinct: %d ingress keys (%s); spoofing session ids answered %s\n",
		f.Sessions, f.SessionKeys, f.SessionKinds, f.SpoofAnswers)
	fmt.Fprintf(&b, "edged peak RSS over the run: %d MiB\n", f.FinalHWMMiB)
	return b.String()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// start writes certificates and a config on free ports and starts edged.
func start(ctx context.Context, dir, bin string, log *slog.Logger) (*env, error) {
	paths, err := labsetup.GenerateTLS(filepath.Join(dir, "tls"), labsetup.TLSOptions{NodeID: nodeID, PeerID: peerID})
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	peerAddr, err := freeAddr() // nobody listens: deliveries fail and wait, which costs nothing here
	if err != nil {
		return nil, err
	}
	opts := labsetup.DefaultConfigOptions()
	opts.NodeID, opts.PeerID, opts.PeerAddr, opts.Listen = nodeID, peerID, peerAddr, addr
	cfgPath := filepath.Join(dir, "edge.toml")
	if _, err := labsetup.WriteConfig(cfgPath, opts); err != nil {
		return nil, err
	}
	p, err := harness.Start(harness.Spec{Name: "edged", Path: bin, Dir: dir, Log: filepath.Join(dir, "edged.log"),
		Args: []string{"run", "--config", cfgPath}})
	if err != nil {
		return nil, err
	}
	e := &env{dir: dir, addr: addr, tls: paths, edged: p, control: &control.Client{Socket: filepath.Join(dir, "ctl.sock")}, log: log}
	if _, err := harness.Until(ctx, harness.Poll{Timeout: 15 * time.Second, Interval: 20 * time.Millisecond}, e.status,
		func(api.Status) bool { return true }); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("edged does not answer on its control socket: %w", err)
	}
	if e.client, err = paths.PeerFiles().ClientConfig(); err != nil {
		return nil, err
	}
	e.client.ServerName = nodeID
	return e, nil
}

func (e *env) status(ctx context.Context) (api.Status, error) {
	if err := e.edged.Alive(); err != nil {
		return api.Status{}, harness.Abort(err)
	}
	return e.control.Status(ctx)
}

func (e *env) h2() *http.Transport {
	return &http.Transport{TLSClientConfig: e.client.Clone(), ForceAttemptHTTP2: true}
}

// idleStreams holds n PUTs declaring declared bytes and sending nothing,
// re-opening any edged ends, and samples edged's memory meanwhile.
func (e *env) idleStreams(ctx context.Context, n int, declared int64, hold time.Duration, fig *figures) error {
	if fig.Streams == 0 {
		fig.StreamsInEdged = -1
		if mem, err := procstat.Read(e.edged.Pid()); err == nil {
			fig.StreamsBaseMiB = mem.RSS >> 20
		}
	}
	fig.Streams, fig.Declared = n, declared
	fmt.Fprintf(os.Stderr, "holding %d idle streams declaring %d bytes for %s…\n", n, declared, hold)
	tr := e.h2()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	sctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sctx.Err() == nil {
				pr, pw := io.Pipe()
				req, _ := http.NewRequestWithContext(sctx, http.MethodPut, fmt.Sprintf("https://%s%sidle-%d", e.addr, transport.SegmentsPath, i), pr)
				req.ContentLength = declared
				req.Header.Set(transport.HeaderPeerID, peerID)
				resp, err := hc.Do(req)
				key := "error"
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					key = fmt.Sprint(resp.StatusCode)
				}
				pw.Close()
				if sctx.Err() == nil {
					mu.Lock()
					answers[key]++
					mu.Unlock()
				}
			}
		}()
	}
	deadline := time.Now().Add(hold)
	for time.Now().Before(deadline) {
		if st, err := e.control.Status(ctx); err == nil && st.Listener != nil {
			fig.StreamsInEdged = max(fig.StreamsInEdged, st.Listener.Bodies)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mem, err := procstat.Read(e.edged.Pid())
	cancel()
	wg.Wait()
	if err != nil {
		return err
	}
	fig.StreamsHWMMiB = mem.HWM >> 20
	fig.StreamsAnswered = fmt.Sprint(answers)
	return nil
}

// floodPhase keeps flood idle TCP connections open while a real sender PUTs.
func (e *env) floodPhase(ctx context.Context, flood int, window time.Duration, fig *figures) error {
	fig.Flood = flood
	fmt.Fprintf(os.Stderr, "flooding with %d idle TCP connections for %s…\n", flood, window)
	fctx, cancel := context.WithCancel(ctx)
	var reopened atomic.Int64
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	opened := make(chan struct{}, flood)
	for range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for fctx.Err() == nil {
				var d net.Dialer
				c, err := d.DialContext(fctx, "tcp", e.addr)
				if err != nil {
					return
				}
				if first {
					opened <- struct{}{}
					first = false
				} else {
					reopened.Add(1)
				}
				go func() { <-fctx.Done(); c.Close() }()
				c.Read(make([]byte, 1)) // until edged closes it
				c.Close()
			}
		}()
	}
	for range flood {
		<-opened
	}
	sender := func(newConn bool) lat {
		var took []time.Duration
		failed, firstErr := 0, ""
		shared := &transport.Client{TLS: e.client, PeerID: peerID, SessionID: uuid.NewString(), Timeout: 15 * time.Second}
		defer shared.CloseIdle()
		end := time.Now().Add(window / 2)
		for i := 0; time.Now().Before(end) && i < 20000; i++ {
			c := shared
			if newConn {
				c = &transport.Client{TLS: e.client, PeerID: peerID, SessionID: uuid.NewString(), Timeout: 15 * time.Second}
			}
			t0 := time.Now()
			_, err := c.Deliver(ctx, transport.Delivery{Addr: e.addr, ServerName: nodeID, TargetPeer: peerID,
				ID: fmt.Sprintf("flood-%t-%d", newConn, i), Payload: []byte("hostile-lab-payload")})
			d := time.Since(t0)
			if newConn {
				c.CloseIdle()
			}
			if err != nil {
				failed++
				if firstErr == "" {
					firstErr = fmt.Sprintf("after %s: %v", d.Round(time.Millisecond), err)
				}
				continue
			}
			took = append(took, d)
		}
		return latOf(took, failed, firstErr)
	}
	fig.FloodNewConn = sender(true)
	fig.FloodReused = sender(false)
	fig.FloodReopened = reopened.Load()
	return nil
}

// sessionsPhase PUTs as legacy senders (no Edge-Peer-Id), each under its own
// session id, then with session ids that name a peer, the overflow series,
// or 200 KiB of text.
func (e *env) sessionsPhase(ctx context.Context, n int, fig *figures) error {
	fig.Sessions = n
	fmt.Fprintf(os.Stderr, "PUTs under %d distinct session ids…\n", n)
	tr := e.h2()
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	put := func(id, session string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "https://"+e.addr+transport.SegmentsPath+id, strings.NewReader("x"))
		if err != nil {
			return 0, err
		}
		req.Header.Set(transport.HeaderSessionID, session)
		req.Header.Set(transport.HeaderTargetPeer, peerID)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	sem := make(chan struct{}, 32)
	var wg sync.WaitGroup
	var errOnce sync.Once
	var firstErr error
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := put(fmt.Sprintf("sess-%d", i), uuid.NewString()); err != nil {
				errOnce.Do(func() { firstErr = err })
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return fmt.Errorf("session PUTs: %w", firstErr)
	}
	var answers []string
	for i, s := range []string{peerID, transport.OverflowPeer, strings.Repeat("s", 200<<10)} {
		code, err := put(fmt.Sprintf("spoof-%d", i), s)
		if err != nil {
			return fmt.Errorf("spoofing PUT: %w", err)
		}
		answers = append(answers, fmt.Sprint(code))
	}
	fig.SpoofAnswers = strings.Join(answers, ",")
	st, err := e.control.Status(ctx)
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	fig.SessionKeys = len(st.Ingress.ByPeer)
	kinds := map[string]int{}
	for k := range st.Ingress.ByPeer {
		kind := st.Ingress.KeyKinds[k]
		if kind == "" {
			kind = "unnamed"
		}
		kinds[kind]++
	}
	fig.SessionKinds = fmt.Sprint(kinds)
	return nil
}
