package control

import (
	"context"
	"net"
)

type actorKey struct{}

// UnknownActor is the actor of a request whose caller could not be identified.
const UnknownActor = "unknown"

// ConnContext records who is on the other end of a control connection, for
// the audit log. Set it as http.Server.ConnContext; on a unix socket it reads
// the peer's credentials from the kernel (SO_PEERCRED), which the caller
// cannot forge, unlike anything in the request.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	actor, err := peerCred(uc)
	if err != nil {
		return ctx
	}
	return WithActor(ctx, actor)
}

// WithActor returns ctx carrying actor, as ConnContext does.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns the caller recorded by ConnContext ("uid=N pid=M"), or
// UnknownActor.
func Actor(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey{}).(string); ok && a != "" {
		return a
	}
	return UnknownActor
}
