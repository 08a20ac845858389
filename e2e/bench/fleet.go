package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// The fleet step (-fleet, `make bench-fleet`): issue 17's fan-out figures.
//
// This process starts -fleet-hosts sandbox agents (upstream/sandbox), each
// on its own loopback listener with its own token, answering with a delay
// that the step sets (-fleet-delays). It writes AGENTS_FILEs (mode 0600,
// inline tokens) and runs the real bridge binary with them, pinned to the
// server CPU like the other steps; the agents live here, next to the load
// generator. Each measured step is `tools/call sentinel_state` with
// `hosts: ["*"]`, one call at a time, at each FANOUT_CONCURRENCY
// (-fleet-conc), the bridges of one group interleaved round by round:
//
//   - all: every host healthy;
//   - healthy-only: the first hosts-dead hosts alone;
//   - with-dead: those same hosts plus -fleet-dead hosts on closed loopback
//     ports, measured after the bridge has marked them down (AGENT_DOWN_AFTER
//     -fleet-down-after, AGENT_PROBE_INTERVAL -fleet-probe). The first
//     fan-out of each with-dead bridge is taken at once after start, before
//     the down-marking, and reported on its own.
//
// Wall time is per fan-out; the bridge's CPU is utime+stime from
// /proc/PID/stat over a round of -fleet-calls fan-outs, divided by them
// (the clock ticks at 10 ms, so one fan-out alone would be too coarse);
// peak RSS is VmHWM from /proc/PID/status when the group ends.

type fleetOptions struct {
	on        bool
	hosts     int
	dead      int
	delays    string
	conc      string
	rounds    int
	calls     int
	probe     time.Duration
	downAfter int
	timeout   time.Duration
}

func (f *fleetOptions) flags() {
	flag.BoolVar(&f.on, "fleet", false, "run the fleet step alone: fan-out over many in-process agents (make bench-fleet)")
	flag.IntVar(&f.hosts, "fleet-hosts", 200, "agents in the fleet step")
	flag.IntVar(&f.dead, "fleet-dead", 50, "of those, hosts on closed ports in the with-dead group (0 skips the group)")
	flag.StringVar(&f.delays, "fleet-delays", "0,5ms", "agent delays of the fleet step (comma list)")
	flag.StringVar(&f.conc, "fleet-conc", "8,32", "FANOUT_CONCURRENCY values (comma list)")
	flag.IntVar(&f.rounds, "fleet-rounds", 5, "rounds per bridge, interleaved")
	flag.IntVar(&f.calls, "fleet-calls", 10, "fan-outs per round, one at a time")
	flag.DurationVar(&f.probe, "fleet-probe", 5*time.Second, "AGENT_PROBE_INTERVAL of the fleet bridges")
	flag.IntVar(&f.downAfter, "fleet-down-after", 2, "AGENT_DOWN_AFTER of the fleet bridges")
	flag.DurationVar(&f.timeout, "fleet-timeout", 8*time.Minute, "the whole fleet step stops after this")
}

// --- the agents ---

// farm is the in-process agents: one listener, token and sandbox each.
type farm struct {
	delay  atomic.Int64 // nanoseconds, for every agent
	states atomic.Int64 // GET /state answered (calls and probes)
	agents []farmAgent
}

type farmAgent struct {
	url, token string
	a          *sandbox.Agent
	srv        *http.Server
}

func startFarm(n int) (*farm, error) {
	f := &farm{}
	for range n {
		tok := rand.Text()
		a, err := sandbox.New(sandbox.Options{Token: tok, DisableScripts: true})
		if err != nil {
			f.close()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			a.Close()
			f.close()
			return nil, err
		}
		srv := &http.Server{Handler: f.wrap(a), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		f.agents = append(f.agents, farmAgent{url: "http://" + ln.Addr().String(), token: tok, a: a, srv: srv})
	}
	return f, nil
}

// wrap delays every request by the farm's current delay, as
// `sentinelx-mcp agent --delay` does, and counts the GET /state answered.
func (f *farm) wrap(a *sandbox.Agent) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(f.delay.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if r.URL.Path == "/state" {
			f.states.Add(1)
		}
		a.ServeHTTP(w, r)
	})
}

func (f *farm) close() {
	for _, a := range f.agents {
		a.srv.Close()
		a.a.Close()
	}
}

// closedURLs returns n loopback URLs nothing listens on: a connection to
// one is refused at once. Each port was free a moment ago.
func closedURLs(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, "http://"+ln.Addr().String())
		ln.Close()
	}
	return out, nil
}

// regHost is one AGENTS_FILE entry.
type regHost struct{ name, url, token, alive string }

// writeAgentsFile writes hosts as an AGENTS_FILE with inline tokens, mode
// 0600 (the bridge refuses inline tokens in a file others can read).
func writeAgentsFile(path string, hosts []regHost) error {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    token: %q\n    labels: {role: bench, alive: %q}\n", h.name, h.url, h.token, h.alive)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// --- one fan-out ---

// fanReply is the part of a fan-out's tools/call answer the step reads.
type fanReply struct {
	Result *struct {
		IsError    bool `json:"isError"`
		Structured struct {
			Results []struct {
				Host    string `json:"host"`
				OK      bool   `json:"ok"`
				Outcome string `json:"outcome"`
				Error   string `json:"error"`
			} `json:"results"`
			Summary struct {
				Hosts, OK, Denied, Unreachable, Error int
			} `json:"summary"`
		} `json:"structuredContent"`
	} `json:"result"`
	Error *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// rpcBody is the JSON-RPC message of an answer, plain or as one SSE event.
func rpcBody(b []byte) []byte {
	if bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return b
	}
	for line := range bytes.SplitSeq(b, []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			return bytes.TrimSpace(d)
		}
	}
	return b
}

// lastAnswer is the size of the latest fan-out answer, in bytes.
var lastAnswer atomic.Int64

const fanBody = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"sentinel_state","arguments":{"hosts":["*"]}}}`

// fanCall makes one fan-out and checks its summary: ok hosts answered,
// unreachable hosts reported unreachable, nothing else.
func fanCall(ctx context.Context, client *http.Client, base, tok string, ok, unreachable int) (time.Duration, *fanReply, error) {
	req := rpcReq(base, tok, fanBody).WithContext(ctx)
	t0 := time.Now()
	status, body, err := do(client, req, nil)
	wall := time.Since(t0)
	lastAnswer.Store(int64(len(body)))
	if err != nil {
		return wall, nil, err
	}
	if status != http.StatusOK {
		return wall, nil, fmt.Errorf("HTTP %d: %.300s", status, body)
	}
	var r fanReply
	if err := json.Unmarshal(rpcBody(body), &r); err != nil {
		return wall, nil, fmt.Errorf("answer: %w: %.300s", err, body)
	}
	if r.Error != nil {
		return wall, &r, fmt.Errorf("JSON-RPC error: %s", r.Error.Message)
	}
	if r.Result == nil {
		return wall, &r, fmt.Errorf("no result: %.300s", body)
	}
	s := r.Result.Structured.Summary
	if s.Hosts != ok+unreachable || s.OK != ok || s.Unreachable != unreachable || s.Denied != 0 || s.Error != 0 {
		return wall, &r, fmt.Errorf("summary %+v, want %d ok and %d unreachable", s, ok, unreachable)
	}
	return wall, &r, nil
}

// --- bridges ---

// fleetBridge is one bridge of the step: a registry and a FANOUT_CONCURRENCY.
type fleetBridge struct {
	group, reg string
	conc       int
	ok, dead   int
	srv        *proc
	tok        string
	startRSS   int64
	hwm        int64
	wall       []float64 // ms per fan-out
	cpu, self  []float64 // ms per fan-out, per round: the bridge, this process
	loads      []string
	errs       int
	firstErr   string
	first      *firstFan
	readyAfter time.Duration // start → every host reachable or, if dead, marked down
	ticks, sys int64         // over the rounds: utime+stime, stime
	answer     int64         // bytes of one fan-out answer (SSE event)
}

// firstFan is a bridge's first fan-out, right after /readyz said ready:
// before the dead hosts are marked down, and maybe before the probes
// have reached every host.
type firstFan struct {
	wall                    time.Duration
	load                    string
	refused, alreadyDown    int
	summary                 string
	bridgeCPU               int64
	downBefore, reachBefore int
}

func (b *fleetBridge) name() string {
	return fmt.Sprintf("%s, FANOUT_CONCURRENCY %d", b.reg, b.conc)
}

func startFleetBridge(ctx context.Context, o options, idp *idp, tmp string, b *fleetBridge, agentsFile string) error {
	extra := []string{
		"AGENTS_FILE=" + agentsFile,
		"FANOUT_CONCURRENCY=" + strconv.Itoa(b.conc),
		"AGENT_PROBE_INTERVAL=" + o.fleet.probe.String(),
		"AGENT_DOWN_AFTER=" + strconv.Itoa(o.fleet.downAfter),
	}
	logName := fmt.Sprintf("bridge-fleet-%s-%s-c%d.log", b.group, b.reg, b.conc)
	srv, err := startBridge(ctx, o, idp, "", filepath.Join(tmp, logName), extra)
	if err != nil {
		return err
	}
	b.srv = srv
	b.tok = idp.mint(srv.url+"/mcp", "sentinelx:state", time.Hour)
	b.startRSS = rssKB(srv.pid())
	return nil
}

// readyHosts is /readyz's hosts check: hosts reachable, and hosts marked
// down (a down_since).
func readyHosts(client *http.Client, base string) (reachable, down int, err error) {
	resp, err := client.Get(base + "/readyz")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Checks map[string]struct {
			Detail struct {
				Reachable int `json:"reachable"`
				Hosts     map[string]struct {
					DownSince string `json:"down_since"`
				} `json:"hosts"`
			} `json:"detail"`
		} `json:"checks"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, 0, err
	}
	h, ok := r.Checks["hosts"]
	if !ok {
		return 0, 0, errors.New("/readyz has no hosts check (AGENTS_FILE not in force?)")
	}
	for _, s := range h.Detail.Hosts {
		if s.DownSince != "" {
			down++
		}
	}
	return h.Detail.Reachable, down, nil
}

// waitHosts polls /readyz until reachable and down are as wanted.
func waitHosts(ctx context.Context, client *http.Client, base string, reachable, down int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		r, d, err := readyHosts(client, base)
		if err == nil && r == reachable && d == down {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s/readyz: %d reachable and %d down after %s, want %d and %d (err %v)", base, r, d, limit, reachable, down, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// --- the step ---

type fleetGroup struct {
	name    string
	delay   time.Duration
	before  string // load average when the group started
	bridges []*fleetBridge
}

func runFleet(ctx context.Context, o options, idp *idp, tmp string) error {
	f := o.fleet
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	delays, err := parseDelays(f.delays)
	if err != nil {
		return fmt.Errorf("-fleet-delays: %w", err)
	}
	concs, err := parseInts(f.conc)
	if err != nil {
		return fmt.Errorf("-fleet-conc: %w", err)
	}
	if f.hosts < 1 || f.dead < 0 || f.dead >= f.hosts || f.rounds < 1 || f.calls < 1 {
		return errors.New("-fleet-hosts, -fleet-dead, -fleet-rounds, -fleet-calls: want hosts ≥ 1, 0 ≤ dead < hosts, rounds and calls ≥ 1")
	}
	startLoad := loadavg()
	t0 := time.Now()
	fmt.Fprintf(os.Stderr, "fleet: starting %d agents in this process (load %s)\n", f.hosts, startLoad)
	fm, err := startFarm(f.hosts)
	if err != nil {
		return err
	}
	defer fm.close()

	healthy := f.hosts - f.dead
	var all, live, mixed []regHost
	for i, a := range fm.agents {
		h := regHost{fmt.Sprintf("host-%03d", i+1), a.url, a.token, "yes"}
		all = append(all, h)
		if i < healthy {
			live = append(live, h)
		}
	}
	mixed = append(mixed, live...)
	dead, err := closedURLs(f.dead)
	if err != nil {
		return err
	}
	for i, u := range dead {
		mixed = append(mixed, regHost{fmt.Sprintf("dead-%03d", i+1), u, rand.Text(), "no"})
	}
	files := map[string]string{}
	for name, hosts := range map[string][]regHost{"all": all, "healthy": live, "mixed": mixed} {
		files[name] = filepath.Join(tmp, "agents-"+name+".yaml")
		if err := writeAgentsFile(files[name], hosts); err != nil {
			return err
		}
	}

	client := newClient()
	client.Timeout = 2 * time.Minute
	var groups []*fleetGroup
	for _, delay := range delays {
		fm.delay.Store(int64(delay))
		g := &fleetGroup{name: "all", delay: delay}
		for _, c := range concs {
			g.bridges = append(g.bridges, &fleetBridge{group: "all", reg: fmt.Sprintf("%d healthy", f.hosts), conc: c, ok: f.hosts})
		}
		if err := runFleetGroup(ctx, o, idp, tmp, client, g, files); err != nil {
			return err
		}
		groups = append(groups, g)
		if f.dead == 0 {
			continue
		}
		g = &fleetGroup{name: "dead", delay: delay}
		for _, c := range concs {
			g.bridges = append(g.bridges,
				&fleetBridge{group: "dead", reg: fmt.Sprintf("%d healthy only", healthy), conc: c, ok: healthy},
				&fleetBridge{group: "dead", reg: fmt.Sprintf("%d healthy + %d dead", healthy, f.dead), conc: c, ok: healthy, dead: f.dead})
		}
		if err := runFleetGroup(ctx, o, idp, tmp, client, g, files); err != nil {
			return err
		}
		groups = append(groups, g)
	}
	printFleet(os.Stdout, o, groups, startLoad, loadavg(), time.Since(t0), fm)
	return nil
}

func runFleetGroup(ctx context.Context, o options, idp *idp, tmp string, client *http.Client, g *fleetGroup, files map[string]string) error {
	f := o.fleet
	g.before = loadavg()
	defer func() {
		for _, b := range g.bridges {
			if b.srv != nil {
				b.srv.stop()
			}
		}
	}()
	for _, b := range g.bridges {
		file := files["all"]
		switch {
		case b.group == "dead" && b.dead > 0:
			file = files["mixed"]
		case b.group == "dead":
			file = files["healthy"]
		}
		started := time.Now()
		if err := startFleetBridge(ctx, o, idp, tmp, b, file); err != nil {
			return err
		}
		// The first fan-out at once, on connections the probes may not
		// have opened yet; a dead host has failed one probe at most, so
		// it is not marked down yet (unless AGENT_DOWN_AFTER is 1).
		reach, down, _ := readyHosts(client, b.srv.url)
		ff := &firstFan{load: loadavg(), downBefore: down, reachBefore: reach}
		cpu0 := cpuTicks(b.srv.pid())
		wall, r, err := fanCall(ctx, client, b.srv.url, b.tok, b.ok, b.dead)
		ff.bridgeCPU = cpuTicks(b.srv.pid()) - cpu0
		ff.wall = wall
		if err != nil {
			return fmt.Errorf("%s: first fan-out: %w", b.name(), err)
		}
		s := r.Result.Structured.Summary
		ff.summary = fmt.Sprintf("summary: %d hosts, %d ok, %d unreachable", s.Hosts, s.OK, s.Unreachable)
		for _, h := range r.Result.Structured.Results {
			switch {
			case h.OK:
			case strings.Contains(h.Error, "unreachable since"):
				ff.alreadyDown++
			case strings.Contains(h.Error, "refused"):
				ff.refused++
			}
		}
		b.first = ff
		fmt.Fprintf(os.Stderr, "fleet %s, delay %s: first fan-out %s (%d reachable before it; %d refused, %d already marked down) (load %s)\n",
			b.name(), g.delay, fmtDur(wall), reach, ff.refused, ff.alreadyDown, ff.load)
		if err := waitHosts(ctx, client, b.srv.url, b.ok, b.dead, 4*f.probe+10*time.Second); err != nil {
			return err
		}
		b.readyAfter = time.Since(started)
	}
	// Warm up: connections to every host, caches, the heap.
	for _, b := range g.bridges {
		for range 2 {
			if _, _, err := fanCall(ctx, client, b.srv.url, b.tok, b.ok, b.dead); err != nil {
				return fmt.Errorf("%s: warm-up: %w", b.name(), err)
			}
		}
	}
	for round := 1; round <= f.rounds; round++ {
		order := append([]*fleetBridge(nil), g.bridges...)
		if round%2 == 0 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, b := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			la := loadavg()
			cpu0, self0, sys0 := cpuTicks(b.srv.pid()), cpuTicks(os.Getpid()), sysTicks(b.srv.pid())
			var walls []float64
			for range f.calls {
				wall, _, err := fanCall(ctx, client, b.srv.url, b.tok, b.ok, b.dead)
				if err != nil {
					b.errs++
					if b.firstErr == "" {
						b.firstErr = err.Error()
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
					continue
				}
				walls = append(walls, float64(wall.Microseconds())/1000)
			}
			ticks := cpuTicks(b.srv.pid()) - cpu0
			b.ticks += ticks
			b.sys += sysTicks(b.srv.pid()) - sys0
			cpu := float64(ticks) * 1000 / clkTck / float64(f.calls)
			self := float64(cpuTicks(os.Getpid())-self0) * 1000 / clkTck / float64(f.calls)
			b.wall = append(b.wall, walls...)
			b.cpu = append(b.cpu, cpu)
			b.self = append(b.self, self)
			b.loads = append(b.loads, la)
			ws := statOf(walls)
			fmt.Fprintf(os.Stderr, "fleet round %d, delay %s: %-40s wall %.1f ms (%.1f–%.1f), bridge CPU %.1f ms/fan-out, this process %.1f ms, errors %d (load %s)\n",
				round, g.delay, b.name(), ws.med, ws.lo, ws.hi, cpu, self, b.errs, la)
		}
	}
	for _, b := range g.bridges {
		b.hwm = hwmKB(b.srv.pid())
		if _, _, err := fanCall(ctx, client, b.srv.url, b.tok, b.ok, b.dead); err == nil {
			b.answer = lastAnswer.Load()
		}
	}
	return nil
}

// --- report ---

func printFleet(w io.Writer, o options, groups []*fleetGroup, startLoad, endLoad string, took time.Duration, fm *farm) {
	f := o.fleet
	pinning := "none (fewer than 2 CPUs or no taskset)"
	if otherCPUs != "" {
		pinning = "bridges on CPU " + serverCPU + "; the agents (in the load generator's process) and the load generator on CPU " + otherCPUs
	}
	fmt.Fprintln(w, "- date: "+time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintln(w, "- machine: "+machine())
	fmt.Fprintln(w, "- load generator built with "+runtime.Version())
	fmt.Fprintln(w, "- pinning: "+pinning)
	fmt.Fprintf(w, "- %d sandbox agents (upstream/sandbox) in the load generator's process, each on its own 127.0.0.1 listener with its own token; AGENTS_FILE mode 0600 with inline tokens; closed loopback ports for the dead hosts\n", f.hosts)
	fmt.Fprintf(w, "- bridges: stateless, RS256 JWT (scope sentinelx:state), RATE_LIMIT=0, AGENT_PROBE_INTERVAL=%s, AGENT_DOWN_AFTER=%d, default UPSTREAM_MAX_CONCURRENCY_PER_HOST and logging; the bridges of a group run at once and are measured in turn, even rounds in reverse order\n", f.probe, f.downAfter)
	fmt.Fprintf(w, "- per bridge: 2 warm-up fan-outs, then %d rounds of %d fan-outs one at a time (`tools/call sentinel_state`, `hosts: [\"*\"]`, every answer's summary checked)\n", f.rounds, f.calls)
	fmt.Fprintf(w, "- wall: per fan-out, median (range) over the %d calls; CPU: utime+stime from /proc/PID/stat over each round ÷ %d, median (range) over the rounds (10 ms clock ticks); peak RSS: VmHWM when the group ends\n", f.rounds*f.calls, f.calls)
	fmt.Fprintf(w, "- load average 1/5/15 min: %s at the start, %s at the end (includes this run's bridge, agents and load generator); the whole step took %s; the agents answered %d GET /state (fan-outs and probes)\n", startLoad, endLoad, took.Round(time.Second), fm.states.Load())
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| agent delay | registry | FANOUT_CONCURRENCY | wall ms per fan-out, median (range) | bridge CPU ms per fan-out, median (range) | of which sys | bridge CPU µs per host | this process (agents + client) CPU ms per fan-out | answer KB | first fan-out after start | bridge peak RSS (VmHWM) | RSS after start | errors | load avg (rounds) |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, g := range groups {
		for _, b := range g.bridges {
			errs := strconv.Itoa(b.errs)
			if b.firstErr != "" {
				errs += " (" + b.firstErr + ")"
			}
			cpu := statOf(b.cpu)
			sys := 0.0
			if b.ticks > 0 {
				sys = float64(b.sys) / float64(b.ticks) * 100
			}
			first := ""
			if b.first != nil {
				first = fmt.Sprintf("%.1f ms (%d hosts reachable before it)", float64(b.first.wall.Microseconds())/1000, b.first.reachBefore)
			}
			fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %.0f %% | %.0f | %s | %.0f | %s | %.1f MB | %.1f MB | %s | %s |\n",
				g.delay, b.reg, b.conc, fmtStat(statOf(b.wall), 1), fmtStat(cpu, 1), sys, cpu.med*1000/float64(b.ok+b.dead),
				fmtStat(statOf(b.self), 1), float64(b.answer)/1024, first, float64(b.hwm)/1024, float64(b.startRSS)/1024, errs, loadRange(b.loads))
		}
	}
	fmt.Fprintln(w)
	for _, g := range groups {
		if g.name != "dead" {
			continue
		}
		fmt.Fprintf(w, "With %d dead hosts (closed loopback ports), agent delay %s (load %s at the group's start):\n\n", f.dead, g.delay, g.before)
		fmt.Fprintln(w, "| FANOUT_CONCURRENCY | healthy only: wall ms | with dead, marked down: wall ms | difference of medians | bound: healthy median + one probe interval | every fan-out within it | answers' summary | first fan-out after start: healthy only / with dead | dead hosts in that first fan-out: refused / already down | every dead host marked down after start |")
		fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---|---|---:|---|---:|")
		for i := 0; i+1 < len(g.bridges); i += 2 {
			h, d := g.bridges[i], g.bridges[i+1]
			hs, ds := statOf(h.wall), statOf(d.wall)
			bound := hs.med + float64(f.probe.Milliseconds())
			within := "yes"
			if ds.hi > bound {
				within = "**no**"
			}
			summary := fmt.Sprintf("%d ok, %d unreachable in all %d", d.ok, d.dead, len(d.wall))
			if d.errs > 0 {
				summary = fmt.Sprintf("%d of %d calls failed the check: %s", d.errs, d.errs+len(d.wall), d.firstErr)
			}
			first, counts := "", ""
			if h.first != nil && d.first != nil {
				first = fmt.Sprintf("%.1f / %.1f ms", float64(h.first.wall.Microseconds())/1000, float64(d.first.wall.Microseconds())/1000)
				counts = fmt.Sprintf("%d / %d (%s)", d.first.refused, d.first.alreadyDown, d.first.summary)
			}
			fmt.Fprintf(w, "| %d | %s | %s | %+.1f ms | %.0f ms | %s (slowest %.1f ms) | %s | %s | %s | %.1f s |\n",
				d.conc, fmtStat(hs, 1), fmtStat(ds, 1), ds.med-hs.med, bound, within, ds.hi, summary, first, counts, d.readyAfter.Seconds())
		}
		fmt.Fprintln(w)
	}
}

// fmtStat is "median (lo–hi)" with prec decimals.
func fmtStat(s stat, prec int) string {
	return fmt.Sprintf("%.*f (%.*f–%.*f)", prec, s.med, prec, s.lo, prec, s.hi)
}

// loadRange is the first 1-minute load average of the rounds to the last.
func loadRange(loads []string) string {
	if len(loads) == 0 {
		return ""
	}
	lo, hi := 1e9, 0.0
	for _, l := range loads {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	return fmt.Sprintf("1-min %.2f–%.2f; first round %s", lo, hi, loads[0])
}

func parseDelays(s string) ([]time.Duration, error) {
	var out []time.Duration
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if v == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, v := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad %q", v)
		}
		out = append(out, n)
	}
	return out, nil
}
