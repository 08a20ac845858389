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

	"github.com/pensados/sentinelx-mcp/internal/gcfloor"
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

// gcDefaults trades a little memory for a lot of CPU. go-sdk turns every
// MCP request into ~300 KB of garbage (nine JSON decodes, each through a
// fresh 32 KiB buffer) against a live heap of 2–3 MB; at Go's default
// GOGC=100 the collector then runs every dozen requests and costs more CPU
// than the request itself. The collector now waits until 48 MB have piled
// up, or until the heap is five times what is live (GOGC=400) once that
// is more (internal/gcfloor): side by side with a bare go-sdk server, CPU
// per call is ~18 % lower than at GOGC=400 alone, for ~35 MB more RSS under
// saturating load (BENCHMARKS.md, "Speed, second round").
// The soft limit caps the heap at 256 MiB. GOGC or GOMEMLIMIT set by the
// operator wins.
func gcDefaults(getenv func(string) string) {
	if getenv("GOGC") == "" {
		gcfloor.Start(gcFloor, 400)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(256 << 20)
	}
}

// gcFloor is the heap goal's floor: go-sdk's garbage of ~150 requests.
const gcFloor = 48 << 20
