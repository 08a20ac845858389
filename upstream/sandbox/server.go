package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"
)

// Server is an [Agent] listening on a real loopback socket.
type Server struct {
	*Agent
	// URL is the base URL, e.g. "http://127.0.0.1:41234".
	URL string
	srv *http.Server
}

// Start runs a new agent on 127.0.0.1:0 for the test's lifetime; it is
// closed (and its temporary sandbox removed) by tb.Cleanup.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	a, err := New(opts)
	if err != nil {
		tb.Fatalf("sandbox.Start: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = a.Close()
		tb.Fatalf("sandbox.Start: listen: %v", err)
	}
	s := &Server{Agent: a, URL: "http://" + ln.Addr().String(), srv: newHTTPServer(a)}
	go func() { _ = s.srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = s.srv.Close()
		_ = a.Close()
	})
	return s
}

// Serve answers on ln until ctx ends, then shuts down gracefully (up to
// 5 s). It returns nil after a clean shutdown. The agent is not closed.
// A TCP listener must be on a loopback address: this agent runs code and
// writes files for whoever holds the token, so it never faces a network.
func (a *Agent) Serve(ctx context.Context, ln net.Listener) error {
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		return fmt.Errorf("sandbox: refusing to serve on non-loopback address %s", tcp)
	}
	srv := newHTTPServer(a)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
}
