package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"

	"github.com/pensados/sentinelx-mcp/server/dev"
)

// runDev parses the dev subcommand's flags; dev.Run does the rest.
func runDev(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := dev.Options{Getenv: getenv, Version: buildVersion()}
	fs.StringVar(&o.Host, "host", "127.0.0.1", "loopback address to bind (non-loopback addresses are refused)")
	fs.IntVar(&o.Port, "port", dev.DefaultPort, "bridge port (0 picks a free one)")
	fs.IntVar(&o.IdPPort, "idp-port", 0, "authorization server port (default: --port + 1)")
	fs.BoolVar(&o.NoAgent, "no-agent", false, "do not start the embedded sandboxed agent")
	fs.IntVar(&o.Hosts, "hosts", 1, "start this many sandboxed agents behind one bridge (web-1 … and db-1, with a sample per-host policy)")
	fs.BoolVar(&o.AllowScripts, "allow-scripts", false, "let the embedded agent run sentinel_script_run scripts (bash/python3 as your user)")
	fs.DurationVar(&o.TokenTTL, "token-ttl", 0, "lifetime of the printed token and of issued access tokens (default 1h)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	// zitadel/oidc's op logs through the process-wide slog default only;
	// send that through dev's logger, quieted (see dev.Options.LibraryLog).
	o.LibraryLog = func(h slog.Handler) { slog.SetDefault(slog.New(h)) }
	return dev.Run(ctx, o, stdout, stderr)
}
