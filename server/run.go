package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Timeouts of the HTTP server. Writes are not bounded: SSE responses of
// long tool calls (scripts up to 300 s) and the stateful GET stream stay
// open as long as they need.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
	// maxHeaderBytes admits group-heavy IdP tokens (Keycloak, Entra) of up
	// to 1 MiB in the Authorization header.
	maxHeaderBytes = 1<<20 + 64<<10
)

// Run serves h on ln until ctx ends, then stops accepting connections and
// drains in-flight calls for up to 30 s before closing what remains.
// Taking a listener (not an address) lets callers and tests bind
// 127.0.0.1:0 and learn the port before serving.
func Run(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	if c, ok := h.(interface{ CloseStreams() }); ok {
		srv.RegisterOnShutdown(c.CloseStreams)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if errors.Is(err, context.DeadlineExceeded) {
		logger.Warn("drain timed out; closing remaining connections")
		err = srv.Close()
	}
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
