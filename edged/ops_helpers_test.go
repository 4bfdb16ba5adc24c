package main_test

// Helpers of the operator-feature tests (requeue, ingress report, lab
// clock), on top of the lab of integration_test.go. Names start with ops so
// they cannot collide with the other files' helpers.

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"edgelab/internal/syncbuf"
	"edgelab/transport"
)

// opsStart is lab.start with more arguments to edged run.
func opsStart(l *lab, args ...string) {
	l.t.Helper()
	l.stderr = &syncbuf.Buffer{}
	l.cmd = exec.Command(edgedBinary(l.t), append([]string{"run", "--config", l.config}, args...)...)
	l.cmd.Stderr = l.stderr
	require.NoError(l.t, l.cmd.Start())
	l.done = make(chan error, 1)
	go func() { l.done <- l.cmd.Wait() }()
	l.t.Cleanup(func() {
		if l.cmd.ProcessState == nil {
			l.cmd.Process.Kill()
			<-l.done
		}
	})
	l.waitFor("control socket answers", func() (bool, string) {
		st, err := l.client.Status(context.Background())
		return err == nil, fmt.Sprintf("status=%+v err=%v", st, err)
	})
}

// opsPeerDown points the lab's edged at a loopback address nobody listens
// on and returns it, for opsReceiverAt to bring the peer up there later.
func opsPeerDown(t *testing.T, l *lab) string {
	t.Helper()
	addr := relFreePort(t)
	data, err := os.ReadFile(l.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(l.config, []byte(relSetKey(t, string(data), "addr", `"`+addr+`"`)), 0o644))
	return addr
}

// opsReceiverAt is startReceiver on a given address.
func opsReceiverAt(t *testing.T, files transport.TLSFiles, addr string) *receiver {
	t.Helper()
	cfg, err := files.ServerConfig()
	require.NoError(t, err)
	var l net.Listener
	deadline := time.Now().Add(10 * time.Second)
	for {
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the port may linger a moment
	}
	require.NoError(t, err, "listen on %s", addr)
	r := &receiver{held: map[string]bool{}, addr: l.Addr().String()}
	srv := &http.Server{Handler: &transport.SegmentHandler{Store: r, MaxBytes: 1 << 20}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(tls.NewListener(l, cfg))
	t.Cleanup(func() { srv.Close() })
	return r
}
