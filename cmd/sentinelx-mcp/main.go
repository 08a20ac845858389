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
	// SIGHUP (systemctl reload) reloads POLICY_FILE and AGENTS_FILE when
	// set (serve subscribes to it then); otherwise it must not end the
	// process.
	signal.Ignore(syscall.SIGHUP)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sentinelx-mcp:", err)
		os.Exit(1)
	}
}

// gcDefaults trades a little memory for a lot of CPU. go-sdk allocates
// about 300 KB of short-lived garbage per MCP request (each of its nine JSON
// decodes reads through a fresh 32 KiB buffer) against a live heap of 2–3
// MB. How often the collector runs is set by the heap goal, and for a heap
// that small the goal is Go's floor, 4 MB × GOGC/100: at the default
// GOGC=100 the collector runs every dozen requests and costs more CPU than
// the request itself. GOGC=800 puts the floor at 32 MB: side by side with a
// bare go-sdk server, CPU per call is ~15 % lower than at GOGC=400, for
// ~16 MB more RSS under load (BENCHMARKS.md, "Speed, second round"). The
// soft limit keeps a large live heap (uploads in flight) from growing 9×.
// GOGC and GOMEMLIMIT set by the operator win.
func gcDefaults(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(800)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}
