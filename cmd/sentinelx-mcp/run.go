package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/go-chi/httplog/v2"

	"github.com/pensados/sentinelx-mcp/server"
)

const usage = `sentinelx-mcp — MCP bridge to a SentinelX Core agent, with OAuth.

Usage:
  sentinelx-mcp [serve]        run the bridge (configured by environment variables)
  sentinelx-mcp agent [flags]  run a sandboxed SentinelX Core test agent on loopback
  sentinelx-mcp dev [flags]    bridge + OAuth server + sandboxed agent on loopback, with a ready token
  sentinelx-mcp doctor [flags] check the configuration against the IdP, the agent and this host
  sentinelx-mcp version        print the version
  sentinelx-mcp help           print this help

Environment (serve):
  VARIABLE                 DEFAULT                  MEANING
`

// run is main without the process: tests call it with their own args,
// environment and writers.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { fmt.Fprint(stderr, usage+server.EnvHelp()) }
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		return serve(ctx, getenv, stdout)
	case "agent":
		return runAgent(ctx, args, getenv, stdout, stderr)
	case "dev":
		return runDev(ctx, args, getenv, stdout, stderr)
	case "doctor":
		return runDoctor(ctx, args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "sentinelx-mcp", buildVersion())
		return nil
	case "help":
		fmt.Fprint(stdout, usage+server.EnvHelp())
		return nil
	}
	return fmt.Errorf("unknown command %q (try: sentinelx-mcp help)", cmd)
}

func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := server.LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	logger := newLogger(cfg.LogFormat, cfg.LogLevel, stdout)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	deps := server.Deps{Logger: logger, Version: buildVersion(), Metrics: server.NewMetrics(buildVersion())}
	if cfg.PolicyFile != "" {
		// systemctl reload sends SIGHUP; main ignores it otherwise.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		deps.Reload = hup
	}
	if cfg.AuditLog != "" {
		f, err := os.OpenFile(cfg.AuditLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("AUDIT_LOG: %w", err)
		}
		defer f.Close()
		deps.Audit = slog.New(slog.NewJSONHandler(f, nil)).With("log", "audit")
	}
	h, err := server.New(ctx, cfg, deps)
	if err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			return fmt.Errorf("config: %w", err)
		}
		return err
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s (MCP_HOST, MCP_PORT): %w", addr, err)
	}
	metricsDone := make(chan error, 1) // the metrics listener's result, nil without one
	if cfg.MetricsAddr == "" {
		metricsDone <- nil
	} else {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s (METRICS_ADDR): %w", cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", deps.Metrics.Handler())
		go func() {
			err := server.Run(ctx, mln, mux, logger.Logger)
			if err != nil {
				cancel() // without metrics the service is not what was configured
			}
			metricsDone <- err
		}()
		logger.Info("metrics listening", "addr", mln.Addr().String())
	}
	logger.Info("sentinelx-mcp listening", "addr", ln.Addr().String(), "mcp_url", cfg.MCPURL(),
		"issuer", cfg.Issuer, "upstream", cfg.UpstreamURL, "stateful", cfg.Stateful, "version", buildVersion())

	// systemd Type=notify: ready once the listener is bound (connections
	// queue in its backlog until Serve picks them up).
	notifier := server.NewNotifier(getenv("NOTIFY_SOCKET"))
	if err := notifier.Notify("READY=1"); err != nil {
		logger.Warn("sd_notify READY failed", "err", err.Error())
	}
	stopNotify := context.AfterFunc(ctx, func() { _ = notifier.Notify("STOPPING=1") })
	defer stopNotify()

	err = server.Run(ctx, ln, h, logger.Logger)
	cancel()
	if merr := <-metricsDone; err == nil && merr != nil {
		err = fmt.Errorf("metrics listener (METRICS_ADDR): %w", merr)
	}
	return err
}

func newLogger(format, level string, w io.Writer) *httplog.Logger {
	return httplog.NewLogger("sentinelx-mcp", httplog.Options{
		JSON:     strings.EqualFold(format, "json"),
		LogLevel: httplog.LevelByName(level),
		Concise:  true,
		Writer:   w,
	})
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
