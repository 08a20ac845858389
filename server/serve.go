package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"

	"github.com/go-chi/httplog/v2"

	"github.com/pensados/sentinelx-mcp/internal/logsink"
)

// ServeOptions is what `sentinelx-mcp serve` hands to [Serve] besides the
// configuration: things only the process knows (its logger, version,
// signals and systemd socket).
type ServeOptions struct {
	// Logger writes the request log and server events.
	Logger *httplog.Logger
	// Version is reported by /healthz, ping and the MCP handshake.
	Version string
	// Reload delivers reload requests (SIGHUP, wired by main); nil means
	// none. Signals stay main's business.
	Reload <-chan os.Signal
	// NotifySocket is $NOTIFY_SOCKET (systemd Type=notify); empty means
	// not run by systemd.
	NotifySocket string
	// FlushLogs writes out what Logger's writer buffered, if it buffers
	// (main's is an internal/logsink.Sink); nil means it does not.
	FlushLogs func()
}

// Serve runs the bridge until ctx ends, as `sentinelx-mcp serve` does: it
// opens AUDIT_LOG, builds the handler with [New], binds MCP_HOST:MCP_PORT
// (and METRICS_ADDR when set), tells systemd it is ready, and drains on
// shutdown with [Run]. It lives here, not in main, so that main only reads
// flags and the environment and every part of serving is tested with the
// server.
func Serve(ctx context.Context, cfg Config, opts ServeOptions) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	logger := opts.Logger
	deps := Deps{Logger: logger, Version: opts.Version, Metrics: NewMetrics(opts.Version), Reload: opts.Reload, FlushLogs: opts.FlushLogs}
	if cfg.AuditLog != "" {
		f, err := os.OpenFile(cfg.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("AUDIT_LOG: %w", err)
		}
		defer f.Close()
		audit := logsink.New(f)
		defer audit.Close() // before f.Close: the last lines are written
		deps.Audit = slog.New(slog.NewJSONHandler(audit, nil)).With("log", "audit")
		deps.FlushLogs = func() {
			audit.Flush()
			if opts.FlushLogs != nil {
				opts.FlushLogs()
			}
		}
	}
	h, err := New(ctx, cfg, deps)
	if err != nil {
		return err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (MCP_HOST, MCP_PORT): %w", addr, err)
	}
	metricsDone, err := serveMetrics(ctx, cancel, cfg.MetricsAddr, deps.Metrics, logger.Logger)
	if err != nil {
		ln.Close()
		return err
	}
	logger.Info("sentinelx-mcp listening", "addr", ln.Addr().String(), "mcp_url", cfg.MCPURL(),
		"issuer", cfg.Issuer, "upstream", cfg.UpstreamURL, "stateful", cfg.Stateful, "version", opts.Version)

	// systemd Type=notify: ready once the listener is bound (connections
	// queue in its backlog until Serve picks them up).
	notifier := NewNotifier(opts.NotifySocket)
	if err := notifier.Notify("READY=1"); err != nil {
		logger.Warn("sd_notify READY failed", "err", err.Error())
	}
	stopNotify := context.AfterFunc(ctx, func() { _ = notifier.Notify("STOPPING=1") })
	defer stopNotify()

	err = Run(ctx, ln, h, logger.Logger)
	cancel()
	if merr := <-metricsDone; err == nil && merr != nil {
		err = fmt.Errorf("metrics listener (METRICS_ADDR): %w", merr)
	}
	return err
}

// serveMetrics serves /metrics on addr (METRICS_ADDR) until ctx ends and
// returns a channel that receives the listener's result; with no addr the
// main port serves them and the channel holds nil at once. A metrics
// listener that fails cancels the whole service: without it the service is
// not what was configured.
func serveMetrics(ctx context.Context, cancel context.CancelFunc, addr string, m *Metrics, logger *slog.Logger) (<-chan error, error) {
	done := make(chan error, 1)
	if addr == "" {
		done <- nil
		return done, nil
	}
	mln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (METRICS_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	go func() {
		err := Run(ctx, mln, mux, logger)
		if err != nil {
			cancel()
		}
		done <- err
	}()
	logger.Info("metrics listening", "addr", mln.Addr().String())
	return done, nil
}
