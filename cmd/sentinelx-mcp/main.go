// Command sentinelx-mcp lets MCP clients administer a host through its
// SentinelX Core agent, as an OAuth 2.1 protected resource.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = ""

func main() {
	gcDefaults(os.Getenv)
	// SIGHUP (systemctl reload) reloads POLICY_FILE when one is set (the
	// server subscribes to it then); otherwise it must not end the process.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sentinelx-mcp:", err)
		os.Exit(1)
	}
}

// gcDefaults trades a little memory for a lot of CPU. go-sdk allocates
// about 350 KB of short-lived garbage per MCP request (each of its ~11 JSON
// decodes reads through a fresh 32 KiB buffer) against a live heap of a few
// MB, so at Go's default GOGC=100 the collector runs every dozen requests
// and costs more CPU than the request itself (BENCHMARKS.md). GOGC=400
// lets the heap grow to ~5× live before collecting; the soft limit keeps a
// large live heap (uploads in flight) from growing 5×. GOGC and GOMEMLIMIT
// set by the operator win.
func gcDefaults(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}
