// Package labtest is what the labs' tests share: loopback addresses that
// are free, or taken, for a lab to find.
package labtest

import (
	"edgelab/labs/harness"
	"net"
	"testing"
)

// FreeAddr is a loopback address nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// BusyAddr is a loopback address held by a listener until the test ends,
// and what a lab says of it: "port N is in use by pid P: …" (the test
// process itself holds it).
func BusyAddr(t testing.TB) (addr, inUse string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	err = harness.CheckPortsFree(ln.Addr().String())
	if err == nil {
		t.Fatalf("%s is held, but CheckPortsFree says it is free", ln.Addr())
	}
	return ln.Addr().String(), err.Error()
}
