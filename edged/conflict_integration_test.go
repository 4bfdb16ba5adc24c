package main_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"edgelab/setup/labsetup"
	"edgelab/transport"
)

// A redelivery of a held id is answered 200 when it is the same segment,
// and 409 naming the id when the body differs — before and after the
// segment was relayed; the body held is kept.
func TestEdged_RedeliveryWithAnotherBodyIs409(t *testing.T) {
	l := newLab(t, labsetup.DefaultConfigOptions())
	l.start()
	addr := l.status().Listen
	require.NotEmpty(t, addr)
	certs, err := labsetup.IssueClientCerts(l.tls.Dir, filepath.Join(l.dir, "senders"), labsetup.CertOptions{}, "sender-1")
	require.NoError(t, err)
	c := newSender(t, certs["sender-1"], "sender-1", "6f6b2c1e-1d3a-4f5e-9a1b-0c2d3e4f5a61", 1).conns[0]
	put := func(body []byte) (bool, error) {
		return c.Deliver(context.Background(), transport.Delivery{Addr: addr, ServerName: "edge-it", ID: "dup-1", TargetPeer: "peer-it", Payload: body})
	}
	first := labsetup.Payload("dup-1", 1000)
	other := append([]byte{}, first...)
	other[500] ^= 1 // the same length, one byte off

	created, err := put(first)
	require.NoError(t, err)
	assert.True(t, created)
	created, err = put(first)
	require.NoError(t, err, "the same segment again is a redelivery")
	assert.False(t, created)
	_, err = put(other)
	var se *transport.StatusError
	require.True(t, errors.As(err, &se), "got %v, want a refusal", err)
	assert.Equal(t, http.StatusConflict, se.Code)
	assert.Contains(t, se.Error(), "dup-1")

	l.waitFor("dup-1 relayed", func() (bool, string) {
		st := l.status()
		return st.Segments.Delivered == 1, fmt.Sprintf("segments=%+v", st.Segments)
	})
	_, err = put(other)
	require.True(t, errors.As(err, &se) && se.Code == http.StatusConflict, "after the relay: got %v, want 409", err)
	_, err = put(first)
	assert.NoError(t, err, "after the relay the same segment is still a redelivery")
	l.stop()
}
