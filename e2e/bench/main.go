// Command bench is the load generator behind `make bench`: it measures the
// bridge against the SentinelX agent it fronts, in one run, on loopback.
// It is test support, not part of the product.
//
// It plays the identity provider itself (an RS256 key, OIDC discovery and
// JWKS on 127.0.0.1), starts `sentinelx-mcp agent` with a fixed delay and
// `sentinelx-mcp serve` in front of it, and drives tools/call sentinel_state
// and sentinel_exec with a valid JWT at each concurrency, (a) directly
// against the agent's HTTP API (GET /state, POST /exec with its static
// token) and (b) through the bridge. Every step is bounded in requests and
// time. With two or more CPUs the server under test gets CPU 0 and this
// process and the other side get the rest (taskset).
//
// The latency step (latency.go) reports the latency the bridge adds to a
// call against a 1 ms agent, at concurrency 1 (p50, p99) and open loop at
// -latency-rate (p99), repeated and interleaved with the direct calls.
//
// It also runs sentinel_state open loop at a steady rate (-steady) to see
// the latency the bridge adds, and opens -sessions stateful sessions to
// see what an idle one costs. Server CPU per call is utime+stime from
// /proc/<pid>/stat over a step; memory is VmRSS/VmHWM from /proc, plus
// the bridge's /metrics and GODEBUG=gctrace=1 for the session step.
//
//	go build -o e2e/.bin/bench ./e2e/bench
//	bench -bin ./sentinelx-mcp [-delays 0,1ms] [-conc 1,16,64] [-duration 3s] [-max 30000]
//	      [-steady 1000] [-sessions 1000] [-bridge-only] [-accept-json] [-env NAME=value,…]
//	      [-ref e2e/.bin/yardstick] [-rounds 3] [-ref-conc 16] [-patched BIN] [-side-by-side-only]
//	      [-compare NAME=BIN]… [-no-ref]
//	bench -bin ./sentinelx-mcp -fleet [-fleet-hosts 200] [-fleet-dead 50] [-fleet-delays 0,5ms] …
//	      [-latency-only] [-latency-reps 3] [-latency-delay 1ms] [-latency-rate 1000] [-patched-name NAME]
//
// First, side by side (sidebyside.go): the bridge and the reference, a bare
// go-sdk server with JWT auth and one trivial tool (e2e/yardstick -issuer),
// both pinned to the server CPU, measured -rounds times interleaved, with
// the load average beside each figure, and the ratio bridge/ref.
//
// With -compare (repeatable), other builds of the bridge take their turn
// in the side-by-side step too, and the ratio bridge / each is printed:
// `make bench-compare REF=<commit>` builds REF and runs that step alone.
//
// -fleet runs the fleet step alone (fleet.go): many in-process agents, an
// AGENTS_FILE, and tools/call sentinel_state fanned out to every host
// (`make bench-fleet`).
//
// It prints progress on stderr and a Markdown report on stdout
// (BENCHMARKS.md).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const agentToken = "bench-agent-token-4c1e"

type options struct {
	bin      string
	delays   []time.Duration
	conc     []int
	duration time.Duration
	max      int
	warmup   int
	steady   float64
	sessions int
	env      []string
	skipDir  bool
	json     bool
	ref      string
	patched  string
	compare  []contenderBin
	noRef    bool
	rounds   int
	refConc  int
	sbsOnly  bool
	fleet    fleetOptions
	second   string // the name -patched's binary is shown under
	// the latency step (latency.go)
	latDelay time.Duration
	latRate  float64
	latReps  int
	latOnly  bool
}

// contenderBin is one more bridge build for the side-by-side step.
type contenderBin struct{ name, bin string }

func main() {
	var o options
	var delays, conc, env string
	flag.StringVar(&o.bin, "bin", "./sentinelx-mcp", "sentinelx-mcp binary")
	flag.StringVar(&delays, "delays", "0,1ms", "agent delays to measure (comma list)")
	flag.StringVar(&conc, "conc", "1,16,64", "concurrency levels (comma list)")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "longest time per step")
	flag.IntVar(&o.max, "max", 30000, "most requests per step")
	flag.IntVar(&o.warmup, "warmup", 500, "requests sent before each step is measured")
	flag.Float64Var(&o.steady, "steady", 1000, "calls/s of the open-loop added-latency step (0 skips)")
	flag.IntVar(&o.sessions, "sessions", 1000, "stateful sessions opened for the memory step (0 skips)")
	flag.StringVar(&env, "env", "", "extra bridge environment, comma list of NAME=value (e.g. GOGC=200)")
	flag.BoolVar(&o.skipDir, "bridge-only", false, "skip the direct-to-agent steps")
	flag.BoolVar(&o.json, "accept-json", false, "send Accept: application/json only (a JSON answer instead of one SSE event)")
	flag.StringVar(&o.ref, "ref", "e2e/.bin/yardstick", "the reference server's binary (go build ./e2e/yardstick)")
	flag.IntVar(&o.rounds, "rounds", 3, "rounds of the side-by-side step, bridge and reference interleaved (0 skips)")
	flag.IntVar(&o.refConc, "ref-conc", 16, "concurrency of the side-by-side step")
	flag.StringVar(&o.patched, "patched", "", "a second bridge binary for the side-by-side step (make bench-upstream-fix)")
	flag.StringVar(&o.second, "patched-name", "bridge (patched go-sdk)", "what -patched's binary is called in the report (e.g. 'bridge (after)' for an A/B of two builds)")
	flag.BoolVar(&o.sbsOnly, "side-by-side-only", false, "run the side-by-side step only")
	flag.Func("compare", "another bridge build for the side-by-side step, NAME=BIN or BIN (repeatable; make bench-compare)", func(v string) error {
		name, bin, ok := strings.Cut(v, "=")
		if !ok {
			name, bin = filepath.Base(v), v
		}
		if name == "" || bin == "" {
			return fmt.Errorf("want NAME=BIN, got %q", v)
		}
		o.compare = append(o.compare, contenderBin{name, bin})
		return nil
	})
	flag.BoolVar(&o.noRef, "no-ref", false, "leave the bare go-sdk reference out of the side-by-side step")
	o.fleet.flags()
	flag.DurationVar(&o.latDelay, "latency-delay", time.Millisecond, "agent delay of the latency step")
	flag.Float64Var(&o.latRate, "latency-rate", 1000, "calls/s of the latency step's open loop (0 skips it)")
	flag.IntVar(&o.latReps, "latency-reps", 3, "repetitions of the latency step, direct and bridge interleaved (0 skips the step)")
	flag.BoolVar(&o.latOnly, "latency-only", false, "run the latency step only")
	flag.Parse()
	for _, s := range strings.Split(delays, ",") {
		if s == "0" {
			o.delays = append(o.delays, 0)
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			fatal(fmt.Errorf("-delays: %w", err))
		}
		o.delays = append(o.delays, d)
	}
	for _, s := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fatal(fmt.Errorf("-conc: bad %q", s))
		}
		o.conc = append(o.conc, n)
	}
	if env != "" {
		o.env = strings.Split(env, ",")
	}
	if o.json {
		accept = "application/json"
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// pinning: the server under test on CPU 0, everything else on the rest.
var (
	serverCPU = "0"
	otherCPUs = ""
)

func run(ctx context.Context, o options) error {
	if n := runtime.NumCPU(); n >= 2 {
		if _, err := exec.LookPath("taskset"); err == nil {
			otherCPUs = "1-" + strconv.Itoa(n-1)
			if n == 2 {
				otherCPUs = "1"
			}
			// This process leaves CPU 0 to the server under test.
			if err := exec.Command("taskset", "-a", "-p", "-c", otherCPUs, strconv.Itoa(os.Getpid())).Run(); err != nil {
				otherCPUs = ""
			}
		}
	}
	idp, err := newIdP()
	if err != nil {
		return err
	}
	defer idp.close()

	tmp, err := os.MkdirTemp("", "sentinelx-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	if o.fleet.on {
		return runFleet(ctx, o, idp, tmp)
	}
	rep := &report{}
	rep.header(o)
	if o.latOnly {
		if err := runLatency(ctx, o, idp, tmp, rep); err != nil {
			return err
		}
		rep.print(os.Stdout)
		return nil
	}
	if o.rounds > 0 {
		if err := runSideBySide(ctx, o, idp, tmp, rep); err != nil {
			return err
		}
	}
	if o.sbsOnly {
		rep.print(os.Stdout)
		return nil
	}
	if o.latReps > 0 {
		if err := runLatency(ctx, o, idp, tmp, rep); err != nil {
			return err
		}
	}
	for _, delay := range o.delays {
		if err := runDelay(ctx, o, idp, tmp, delay, rep); err != nil {
			return err
		}
	}
	if o.sessions > 0 {
		if err := runSessions(ctx, o, idp, tmp, rep); err != nil {
			return err
		}
	}
	rep.print(os.Stdout)
	return nil
}

func runDelay(ctx context.Context, o options, idp *idp, tmp string, delay time.Duration, rep *report) error {
	agent, err := startAgent(ctx, o.bin, delay, filepath.Join(tmp, "agent-"+delay.String()+".log"))
	if err != nil {
		return err
	}
	defer agent.stop()
	bridge, err := startBridge(ctx, o, idp, agent.url, filepath.Join(tmp, "bridge-"+delay.String()+".log"), nil)
	if err != nil {
		return err
	}
	defer bridge.stop()
	tok := idp.mint(bridge.url+"/mcp", "sentinelx:state sentinelx:exec", time.Hour)

	rep.rss = append(rep.rss, rssRow{what: "bridge idle after start, agent delay " + delay.String(), kb: rssKB(bridge.pid())})

	targets := []target{
		{"direct", agent, map[string]func() *http.Request{
			"sentinel_state": func() *http.Request { return directReq(agent.url, "state") },
			"sentinel_exec":  func() *http.Request { return directReq(agent.url, "exec") },
		}},
		{"bridge", bridge, map[string]func() *http.Request{
			"sentinel_state": func() *http.Request { return bridgeReq(bridge.url, tok, "sentinel_state") },
			"sentinel_exec":  func() *http.Request { return bridgeReq(bridge.url, tok, "sentinel_exec") },
		}},
	}
	client := newClient()
	for _, tool := range []string{"sentinel_state", "sentinel_exec"} {
		for _, c := range o.conc {
			var direct *result
			for _, tg := range targets {
				if tg.name == "direct" && o.skipDir {
					continue
				}
				// The agent runs on the server CPU when it is what is
				// measured, and next to the load generator otherwise.
				if tg.name == "direct" {
					pin(agent.pid(), serverCPU)
				} else {
					pin(agent.pid(), otherCPUs)
				}
				check := checkDirect
				if tg.name == "bridge" {
					check = checkBridge
				}
				// Warm up connections, caches and the heap.
				load(ctx, client, tg.calls[tool], check, c, o.warmup, o.duration)
				res := measure(ctx, client, tg, tg.calls[tool], check, c, o)
				if tg.name == "bridge" && c == 64 {
					rep.rss = append(rep.rss, rssRow{what: "bridge after " + tool + " c64, agent delay " + delay.String(), kb: rssKB(bridge.pid()), hwm: hwmKB(bridge.pid())})
				}
				row := row{delay: delay, tool: tool, target: tg.name, conc: c, res: res}
				if tg.name == "bridge" && direct != nil {
					row.ratio = float64(res.p(50)) / float64(direct.p(50))
				}
				if tg.name == "direct" {
					direct = res
				}
				rep.rows = append(rep.rows, row)
				fmt.Fprintf(os.Stderr, "%-6s %-8s %-14s c%-3d %s\n", delay, tg.name, tool, c, res.brief())
			}
		}
	}
	if o.steady > 0 {
		pin(agent.pid(), otherCPUs)
		for _, tg := range targets {
			if tg.name == "direct" && o.skipDir {
				continue
			}
			check := checkDirect
			if tg.name == "bridge" {
				check = checkBridge
			}
			res := steady(ctx, client, tg.calls["sentinel_state"], check, o.steady, o.duration)
			rep.steady = append(rep.steady, steadyRow{delay: delay, target: tg.name, rate: o.steady, res: res})
			fmt.Fprintf(os.Stderr, "%-6s %-8s steady %.0f/s %s\n", delay, tg.name, o.steady, res.brief())
		}
	}
	rep.rss = append(rep.rss, rssRow{what: "bridge idle after load, agent delay " + delay.String(), kb: rssKB(bridge.pid()), hwm: hwmKB(bridge.pid())})
	return nil
}

// runSessions opens o.sessions stateful sessions and reports the RSS each
// idle one costs.
func runSessions(ctx context.Context, o options, idp *idp, tmp string, rep *report) error {
	agent, err := startAgent(ctx, o.bin, 0, filepath.Join(tmp, "agent-sessions.log"))
	if err != nil {
		return err
	}
	defer agent.stop()
	// gctrace prints the live heap after each collection: with GOGC=400
	// the RSS and heap-in-use deltas are mostly uncollected garbage.
	logPath := filepath.Join(tmp, "bridge-sessions.log")
	bridge, err := startBridge(ctx, o, idp, agent.url, logPath, []string{"MCP_STATEFUL=true", "GODEBUG=gctrace=1"})
	if err != nil {
		return err
	}
	defer bridge.stop()
	tok := idp.mint(bridge.url+"/mcp", "sentinelx:state", time.Hour)
	client := newClient()
	open := func(n int) error {
		for range n {
			req := rpcReq(bridge.url, tok, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"bench","version":"0"}}}`)
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Mcp-Session-Id") == "" {
				return fmt.Errorf("initialize: HTTP %d, session %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
			}
		}
		return nil
	}
	// A few sessions first so the handshake's one-time allocations are
	// not counted as per-session cost.
	if err := open(20); err != nil {
		return err
	}
	time.Sleep(time.Second)
	before := rssKB(bridge.pid())
	mBefore := scrape(client, bridge.url)
	liveBefore := lastLiveHeapMB(logPath)
	if err := open(o.sessions); err != nil {
		return err
	}
	time.Sleep(time.Second)
	after := rssKB(bridge.pid())
	mAfter := scrape(client, bridge.url)
	liveAfter := lastLiveHeapMB(logPath)
	rep.sessions = &sessionRow{n: o.sessions, before: before, after: after,
		goroutines: mAfter["go_goroutines"] - mBefore["go_goroutines"],
		heap:       mAfter["go_memstats_heap_inuse_bytes"] - mBefore["go_memstats_heap_inuse_bytes"],
		stack:      mAfter["go_memstats_stack_inuse_bytes"] - mBefore["go_memstats_stack_inuse_bytes"],
		live:       (liveAfter - liveBefore) * (1 << 20)}
	fmt.Fprintf(os.Stderr, "stateful: %d sessions, RSS %d → %d KB\n", o.sessions, before, after)
	return nil
}

// lastLiveHeapMB is the live heap after the latest collection in a
// GODEBUG=gctrace=1 log ("gc 7 @0.5s 1%: …, 4->5->2 MB, …": the third).
func lastLiveHeapMB(logPath string) float64 {
	b, _ := os.ReadFile(logPath)
	live := 0.0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "gc ") {
			continue
		}
		for _, f := range strings.Split(line, ", ") {
			if heap, ok := strings.CutSuffix(f, " MB"); ok && strings.Count(heap, "->") == 2 {
				parts := strings.Split(heap, "->")
				if v, err := strconv.ParseFloat(parts[2], 64); err == nil {
					live = v
				}
			}
		}
	}
	return live
}

// scrape reads the Go runtime gauges from the bridge's /metrics.
func scrape(client *http.Client, base string) map[string]float64 {
	out := map[string]float64{}
	resp, err := client.Get(base + "/metrics")
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") {
			continue
		}
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

// --- requests ---
