package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/pensados/sentinelx-mcp/middleware"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// runAgent serves the sandboxed test agent (the UPSTREAM.md API over a
// temporary directory, commands from an argv allowlist, no shell) for
// tests, benchmarks and trying the bridge without a real SentinelX Core.
// It binds loopback only.
func runAgent(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8092", "loopback address to listen on (port 0 picks a free one)")
	dir := fs.String("dir", "", "sandbox directory (default: a new temporary directory, removed on exit)")
	delay := fs.Duration("delay", 0, "fixed latency added to every request (benchmarks)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if !middleware.IsLoopback(host) {
		return fmt.Errorf("--addr %s: the test agent binds loopback addresses only", *addr)
	}
	token := getenv("SENTINELX_TOKEN")
	if token == "" {
		token = getenv("SENTINEL_TOKEN")
	}
	printToken := token == ""
	if printToken {
		token = rand.Text()
	}
	a, err := sandbox.New(sandbox.Options{Token: token, Dir: *dir, Delay: *delay})
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agent listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "sandbox %s\n", a.Dir())
	if printToken {
		fmt.Fprintf(stdout, "token %s\n", token)
	}
	err = a.Serve(ctx, ln)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil
	}
	return err
}
