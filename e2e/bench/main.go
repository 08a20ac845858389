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
// It also runs sentinel_state open loop at a steady rate (-steady) to see
// the latency the bridge adds, and opens -sessions stateful sessions to
// see what an idle one costs. Server CPU per call is utime+stime from
// /proc/<pid>/stat over a step; memory is VmRSS/VmHWM from /proc, plus
// the bridge's /metrics and GODEBUG=gctrace=1 for the session step.
//
//	go build -o e2e/.bin/bench ./e2e/bench
//	bench -bin ./sentinelx-mcp [-delays 0,1ms] [-conc 1,16,64] [-duration 3s] [-max 30000]
//	      [-steady 1000] [-sessions 1000] [-bridge-only] [-accept-json] [-env NAME=value,…]
//
// It prints progress on stderr and a Markdown report on stdout
// (BENCHMARKS.md).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
}

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

	rep := &report{}
	rep.header(o)
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

func newClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     time.Minute,
		},
	}
}

func directReq(base, what string) *http.Request {
	var req *http.Request
	if what == "state" {
		req, _ = http.NewRequest(http.MethodGet, base+"/state", nil)
	} else {
		req, _ = http.NewRequest(http.MethodPost, base+"/exec", strings.NewReader(`{"cmd":"echo hi"}`))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+agentToken)
	req.Header.Set("Accept", "application/json")
	return req
}

func bridgeReq(base, tok, tool string) *http.Request {
	args := `{}`
	if tool == "sentinel_exec" {
		args = `{"cmd":"echo hi"}`
	}
	return rpcReq(base, tok, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"`+tool+`","arguments":`+args+`}}`)
}

// accept is what rpcReq sends: both types, as MCP clients do (the bridge
// answers with one SSE event), unless -accept-json.
var accept = "application/json, text/event-stream"

// rpcReq is a POST /mcp as MCP clients send it: Accept, protocol version
// header, bearer.
func rpcReq(base, tok, body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

func checkDirect(status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	if bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("agent refused: %.200s", body)
	}
	return nil
}

func checkBridge(status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	if !bytes.Contains(body, []byte(`"result"`)) || bytes.Contains(body, []byte(`"isError":true`)) {
		return fmt.Errorf("tool failed: %.300s", body)
	}
	return nil
}

// --- load ---

type result struct {
	n, errs  int
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration // sorted
	cpuTicks int64           // server utime+stime over the step
}

func (r *result) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*q/100+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r *result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// cpuPerCall is the server's CPU per request in µs.
func (r *result) cpuPerCall(ticks int64) float64 {
	if r.n == 0 {
		return 0
	}
	return float64(ticks) * 1e6 / float64(clkTck) / float64(r.n)
}

func (r *result) brief() string {
	s := fmt.Sprintf("n=%d %.0f/s p50=%s p90=%s p99=%s cpu=%.0fµs/call errs=%d",
		r.n, r.rate(), fmtDur(r.p(50)), fmtDur(r.p(90)), fmtDur(r.p(99)), r.cpuPerCall(r.cpuTicks), r.errs)
	if r.firstErr != "" {
		s += " first error: " + r.firstErr
	}
	return s
}

// target is what a step drives: the agent directly or the bridge.
type target struct {
	name  string                          // "direct" or "bridge"
	srv   *proc                           // whose CPU is measured
	calls map[string]func() *http.Request // by tool name
}

// measure runs one step against tg and adds the server's CPU time.
func measure(ctx context.Context, client *http.Client, tg target, mk func() *http.Request, check func(int, []byte) error, c int, o options) *result {
	before := cpuTicks(tg.srv.pid())
	res := load(ctx, client, mk, check, c, o.max, o.duration)
	res.cpuTicks = cpuTicks(tg.srv.pid()) - before
	return res
}

// load runs c workers, closed loop, until max requests or d elapse.
func load(ctx context.Context, client *http.Client, mk func() *http.Request, check func(int, []byte) error, c, max int, d time.Duration) *result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	lats := make([][]time.Duration, c)
	errs := make([]int, c)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			buf := make([]byte, 0, 8192)
			for ctx.Err() == nil && next.Add(1) <= int64(max) {
				req := mk().WithContext(ctx)
				t0 := time.Now()
				status, body, err := do(client, req, buf[:0])
				lat := time.Since(t0)
				if ctx.Err() != nil {
					return // cut off by the step's end, not the server's fault
				}
				if err == nil {
					err = check(status, body)
				}
				if err != nil {
					errs[w]++
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[w] = append(lats[w], lat)
				buf = body
			}
		})
	}
	wg.Wait()
	res := &result{elapsed: time.Since(start)}
	for w := range c {
		res.lat = append(res.lat, lats[w]...)
		res.errs += errs[w]
	}
	res.n = len(res.lat) + res.errs
	slices.Sort(res.lat)
	if s, ok := firstErr.Load().(string); ok {
		res.firstErr = s
	}
	return res
}

// steady sends rate calls/s open loop (each on its own goroutine at its
// scheduled time) for d and reports latencies.
func steady(ctx context.Context, client *http.Client, mk func() *http.Request, check func(int, []byte) error, rate float64, d time.Duration) *result {
	// Warm enough connections for the expected concurrency.
	load(ctx, client, mk, check, 8, 200, d)
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	lats := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			t0 := time.Now()
			status, body, err := do(client, mk().WithContext(ctx), nil)
			lats[i] = time.Since(t0)
			if err == nil {
				err = check(status, body)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	res := &result{elapsed: time.Since(start)}
	for i := range n {
		if errs[i] != nil {
			res.errs++
			if res.firstErr == "" {
				res.firstErr = errs[i].Error()
			}
			continue
		}
		if lats[i] > 0 {
			res.lat = append(res.lat, lats[i])
		}
	}
	res.n = len(res.lat) + res.errs
	slices.Sort(res.lat)
	return res
}

func do(client *http.Client, req *http.Request, buf []byte) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b := bytes.NewBuffer(buf)
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}

// --- processes ---

type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// start runs argv (pinned to cpus when pinning is available) and returns
// once waitFor reports the URL to use, or at once when waitFor is nil.
func start(ctx context.Context, argv []string, env []string, logPath string, cpus string, waitFor func(line string) (string, bool)) (*proc, error) {
	if otherCPUs != "" && cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		pw.Close()
		logf.Close()
		close(p.done)
	}()
	found := make(chan string, 1)
	if waitFor == nil {
		found <- ""
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && waitFor != nil {
				if u, ok := waitFor(line); ok {
					found <- u
					sent = true
					continue
				}
			}
			// Keep the log as the product would write it: one write per line.
			fmt.Fprintln(logf, line)
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case u := <-found:
		p.url = u
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready; see %s", argv, logPath)
	case <-time.After(15 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s not ready after 15 s; see %s", argv, logPath)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func startAgent(ctx context.Context, bin string, delay time.Duration, logPath string) (*proc, error) {
	env := append(baseEnv(), "SENTINELX_TOKEN="+agentToken)
	return start(ctx, []string{bin, "agent", "--addr", "127.0.0.1:0", "--delay", delay.String()}, env, logPath, otherCPUs,
		func(line string) (string, bool) {
			u, ok := strings.CutPrefix(line, "agent listening on ")
			return strings.TrimSpace(u), ok
		})
}

func startBridge(ctx context.Context, o options, idp *idp, agentURL, logPath string, extra []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := append(baseEnv(),
		"MCP_HOST=127.0.0.1", "MCP_PORT="+strconv.Itoa(port),
		"RESOURCE_URL="+base,
		"SENTINELX_URL="+agentURL, "SENTINELX_TOKEN="+agentToken,
		"OIDC_ISSUER="+idp.url, "OIDC_EXPECTED_AUDIENCE="+base+"/mcp",
		// One subject drives the whole load; the per-subject limit would
		// measure the limiter, not the bridge.
		"RATE_LIMIT=0",
		// Logs go to a file, at the product's default level and format.
	)
	env = append(env, o.env...)
	env = append(env, extra...)
	// Readiness is polled, not read from the log: LOG_LEVEL may hide it.
	p, err := start(ctx, []string{o.bin, "serve"}, env, logPath, serverCPU, nil)
	if err != nil {
		return nil, err
	}
	p.url = base
	// Ready means the JWKS is loaded.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("bridge not ready after 15 s; see %s", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// baseEnv passes on only what a Go program needs, so the caller's OIDC_*
// or SENTINELX_* never leak into the measured processes.
func baseEnv() []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOGC", "GOMEMLIMIT", "GODEBUG", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func pin(pid int, cpus string) {
	if otherCPUs == "" || cpus == "" {
		return
	}
	exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).Run()
}

// --- /proc ---

const clkTck = 100 // USER_HZ on Linux

func cpuTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised comm; utime and stime are fields 14, 15.
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func rssKB(pid int) int64 { return statusKB(pid, "VmRSS") }
func hwmKB(pid int) int64 { return statusKB(pid, "VmHWM") }

// --- identity provider ---

type idp struct {
	url string
	key *rsa.PrivateKey
	kid string
	srv *http.Server
}

func newIdP() (*idp, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &idp{url: "http://" + ln.Addr().String(), key: key, kid: "bench-rs256"}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kid,
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	meta, _ := json.Marshal(map[string]any{
		"issuer": p.url, "jwks_uri": p.url + "/jwks",
		"authorization_endpoint": p.url + "/authorize", "token_endpoint": p.url + "/token",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
	mux := http.NewServeMux()
	serve := func(b []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		}
	}
	mux.Handle("GET /jwks", serve(jwks))
	mux.Handle("GET /.well-known/openid-configuration", serve(meta))
	mux.Handle("GET /.well-known/oauth-authorization-server", serve(meta))
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *idp) close() { p.srv.Close() }

// mint signs an RS256 access token for aud with scope.
func (p *idp) mint(aud, scope string, ttl time.Duration) string {
	now := time.Now()
	header, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "at+jwt", "kid": p.kid})
	claims, _ := json.Marshal(map[string]any{
		"iss": p.url, "sub": "bench-user", "aud": aud, "scope": scope,
		"preferred_username": "bench", "client_id": "bench-client",
		"iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": rand.Text(),
	})
	b64 := base64.RawURLEncoding.EncodeToString
	signing := b64(header) + "." + b64(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + b64(sig)
}

// --- report ---

type row struct {
	delay  time.Duration
	tool   string
	target string
	conc   int
	res    *result
	ratio  float64
}

type steadyRow struct {
	delay  time.Duration
	target string
	rate   float64
	res    *result
}

type rssRow struct {
	what    string
	kb, hwm int64
}

type sessionRow struct {
	n             int
	before, after int64
	goroutines    float64
	heap, stack   float64 // bytes, from the bridge's /metrics
	live          float64 // bytes, live heap after GC (gctrace)
}

type report struct {
	head     []string
	rows     []row
	steady   []steadyRow
	rss      []rssRow
	sessions *sessionRow
}

func (r *report) header(o options) {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	pinning := "none (fewer than 2 CPUs or no taskset)"
	if otherCPUs != "" {
		pinning = "server under test on CPU " + serverCPU + ", load generator (and the agent when the bridge is measured) on CPU " + otherCPUs
	}
	r.head = []string{
		"- date: " + time.Now().UTC().Format(time.RFC3339),
		"- machine: " + model + ", " + strconv.Itoa(runtime.NumCPU()) + " CPUs, " + runtime.GOOS + "/" + runtime.GOARCH,
		"- load generator built with " + runtime.Version(),
		"- pinning: " + pinning,
		fmt.Sprintf("- per step: at most %d requests or %s, after %d warm-up requests; bridge: stateless, RS256 JWT (one token, so the verified-token cache serves it), RATE_LIMIT=0, default logging to a file", o.max, o.duration, o.warmup),
	}
	r.head = append(r.head, "- MCP requests: Accept: "+accept+", MCP-Protocol-Version: 2025-06-18")
	if len(o.env) > 0 {
		r.head = append(r.head, "- extra bridge environment: "+strings.Join(o.env, " "))
	}
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0fµs", float64(d)/1e3)
}

func (r *report) print(w io.Writer) {
	for _, h := range r.head {
		fmt.Fprintln(w, h)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| agent delay | tool | target | conc | calls | calls/s | p50 | p90 | p99 | p50 bridge/direct | server CPU µs/call | errors |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, x := range r.rows {
		ratio := ""
		if x.ratio > 0 {
			ratio = fmt.Sprintf("%.2f", x.ratio)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %.0f | %s | %s | %s | %s | %.0f | %d |\n",
			x.delay, x.tool, x.target, x.conc, x.res.n, x.res.rate(), fmtDur(x.res.p(50)), fmtDur(x.res.p(90)), fmtDur(x.res.p(99)),
			ratio, x.res.cpuPerCall(x.res.cpuTicks), x.res.errs)
	}
	if len(r.steady) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Open loop, sentinel_state at a steady rate:")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| agent delay | target | rate | calls | p50 | p90 | p99 | added p50 | added p99 | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		var direct *result
		for _, s := range r.steady {
			added50, added99 := "", ""
			if s.target == "direct" {
				direct = s.res
			} else if direct != nil {
				added50 = fmtSigned(s.res.p(50) - direct.p(50))
				added99 = fmtSigned(s.res.p(99) - direct.p(99))
			}
			fmt.Fprintf(w, "| %s | %s | %.0f/s | %d | %s | %s | %s | %s | %s | %d |\n", s.delay, s.target, s.rate, s.res.n,
				fmtDur(s.res.p(50)), fmtDur(s.res.p(90)), fmtDur(s.res.p(99)), added50, added99, s.res.errs)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| bridge memory | RSS | peak RSS (VmHWM) |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, x := range r.rss {
		hwm := ""
		if x.hwm > 0 {
			hwm = fmt.Sprintf("%.1f MB", float64(x.hwm)/1024)
		}
		fmt.Fprintf(w, "| %s | %.1f MB | %s |\n", x.what, float64(x.kb)/1024, hwm)
	}
	if s := r.sessions; s != nil {
		fmt.Fprintf(w, "| MCP_STATEFUL=true: %d idle sessions opened (initialize) | %.1f → %.1f MB | %.1f KB RSS per session |\n",
			s.n, float64(s.before)/1024, float64(s.after)/1024, float64(s.after-s.before)/float64(s.n))
		fmt.Fprintf(w, "\nPer idle stateful session: %.1f goroutines, %.1f KB live heap after GC (gctrace, 1 MB resolution), %.1f KB stacks; heap in use incl. garbage %.1f KB (/metrics).\n",
			s.goroutines/float64(s.n), s.live/1024/float64(s.n), s.stack/1024/float64(s.n), s.heap/1024/float64(s.n))
	}
}

func fmtSigned(d time.Duration) string {
	if d < 0 {
		return "−" + fmtDur(-d)
	}
	return "+" + fmtDur(d)
}
