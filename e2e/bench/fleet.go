package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
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
