package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/go-chi/httplog/v2"

	"github.com/pensados/sentinelx-mcp/internal/logsink"
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

// serve reads the configuration and hands the process's parts (logger,
// version, SIGHUP, systemd's socket) to [server.Serve].
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	cfg, err := server.LoadConfig(getenv)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	// Log lines are batched per request (internal/logsink) and written out
	// as each request ends; Close writes the last ones after the drain.
	logs := logsink.New(stdout)
	defer logs.Close()
	opts := server.ServeOptions{
		Logger:       newLogger(cfg.LogFormat, cfg.LogLevel, logs),
		Version:      buildVersion(),
		NotifySocket: getenv("NOTIFY_SOCKET"),
		FlushLogs:    logs.Flush,
	}
	if cfg.PolicyFile != "" || cfg.AgentsFile != "" {
		// systemctl reload sends SIGHUP to reload POLICY_FILE and
		// AGENTS_FILE; main ignores it otherwise.
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		opts.Reload = hup
	}
	err = server.Serve(ctx, cfg, opts)
	var ce *server.ConfigError
	if errors.As(err, &ce) {
		return fmt.Errorf("config: %w", err)
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
