package harness

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress writes plain progress lines such as
//
//	[S-B] phase=wait-delivery elapsed=2.3s delivered=3/5
//
// A line is written when the scope or phase changes, and otherwise at most
// once per Every, so a tight poll loop cannot flood the terminal.
type Progress struct {
	W     io.Writer
	Every time.Duration

	mu        sync.Mutex
	lastKey   string
	lastAt    time.Time
	lastExtra string
}

// Update reports that scope is in phase, elapsed into it; extra carries the
// figures ("delivered=3/5").
func (p *Progress) Update(scope, phase string, elapsed time.Duration, extra string) {
	if p == nil || p.W == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := scope + "\x00" + phase
	now := time.Now()
	if key == p.lastKey && (now.Sub(p.lastAt) < p.Every || extra == p.lastExtra && now.Sub(p.lastAt) < 4*p.Every) {
		return
	}
	p.lastKey, p.lastAt, p.lastExtra = key, now, extra
	line := fmt.Sprintf("[%s] phase=%s elapsed=%.1fs", scope, phase, elapsed.Seconds())
	if extra != "" {
		line += " " + extra
	}
	fmt.Fprintln(p.W, line)
}

// Printf writes a free-form line under scope, unthrottled (for events worth
// a line of their own).
func (p *Progress) Printf(scope, format string, args ...any) {
	if p == nil || p.W == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.W, "[%s] %s\n", scope, fmt.Sprintf(format, args...))
}
