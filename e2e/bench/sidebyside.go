package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The side-by-side step: the bridge and a bare go-sdk server with JWT auth
// (e2e/yardstick -issuer), each pinned to the server CPU in turn, driven
// by the same closed loop at -ref-conc, -rounds times interleaved
// (bridge, ref, bridge, ref, …) so a change in the machine's load hits
// both alike; even rounds go in the reverse order, so no server is always
// measured right after the same other one. With -patched, a second bridge
// binary (built against a patched go-sdk, `make bench-upstream-fix`) takes
// its turn too; so does each -compare build (`make bench-compare`).

// contender is one server of the side-by-side step.
type contender struct {
	name string
	srv  *proc
	call func() *http.Request
}

// sample is one measured step of one contender.
type sample struct {
	res  *result
	load string // /proc/loadavg, 1, 5 and 15 minutes, at the step's start
}

type sideBySide struct {
	conc     int
	before   string // load average before the step started anything
	names    []string
	compared []string // the -compare builds, for the ratio bridge / each
	samples  map[string][]sample
	second   string // the -patched build's name, when there is one
}

func runSideBySide(ctx context.Context, o options, idp *idp, tmp string, rep *report) error {
	sb := &sideBySide{conc: o.refConc, before: loadavg(), samples: map[string][]sample{}}
	agent, err := startAgent(ctx, o.bin, 0, filepath.Join(tmp, "agent-sbs.log"))
	if err != nil {
		return err
	}
	defer agent.stop()
	pin(agent.pid(), otherCPUs)

	var cs []contender
	addBridge := func(name, bin string) error {
		bo := o
		bo.bin = bin
		b, err := startBridge(ctx, bo, idp, agent.url, filepath.Join(tmp, name+"-sbs.log"), nil)
		if err != nil {
			return err
		}
		tok := idp.mint(b.url+"/mcp", "sentinelx:state", time.Hour)
		cs = append(cs, contender{name, b, func() *http.Request { return bridgeReq(b.url, tok, "sentinel_state") }})
		return nil
	}
	if err := addBridge("bridge", o.bin); err != nil {
		return err
	}
	defer func() {
		for _, c := range cs {
			c.srv.stop()
		}
	}()
	if o.patched != "" {
		if err := addBridge(o.second, o.patched); err != nil {
			return err
		}
	}
	for _, c := range o.compare {
		if err := addBridge(c.name, c.bin); err != nil {
			return err
		}
		sb.compared = append(sb.compared, c.name)
	}
	if !o.noRef {
		ref, err := startRef(ctx, o.ref, idp, filepath.Join(tmp, "ref-sbs.log"))
		if err != nil {
			return err
		}
		refTok := idp.mint(ref.url+"/mcp", "sentinelx:state", time.Hour)
		cs = append(cs, contender{"ref", ref, func() *http.Request {
			return rpcReq(ref.url, refTok, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
		}})
	}

	client := newClient()
	for _, c := range cs {
		sb.names = append(sb.names, c.name)
		load(ctx, client, c.call, checkBridge, o.refConc, o.warmup, o.duration)
	}
	for round := 1; round <= o.rounds; round++ {
		order := slices.Clone(cs)
		if round%2 == 0 {
			slices.Reverse(order)
		}
		for _, c := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			la := loadavg()
			res := measure(ctx, client, target{name: c.name, srv: c.srv}, c.call, checkBridge, o.refConc, o)
			sb.samples[c.name] = append(sb.samples[c.name], sample{res, la})
			fmt.Fprintf(os.Stderr, "side by side, round %d: %-24s c%d %s (load %s)\n", round, c.name, o.refConc, res.brief(), la)
		}
	}
	if o.patched != "" {
		sb.second = o.second
	}
	rep.sbs = sb
	sb.print(os.Stderr)
	return nil
}

// startRef starts the yardstick as the reference: stateless, JWT required.
func startRef(ctx context.Context, bin string, idp *idp, logPath string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	argv := []string{bin, "-addr", "127.0.0.1:" + strconv.Itoa(port), "-stateless", "-issuer", idp.url, "-audience", base + "/mcp"}
	return start(ctx, argv, baseEnv(), logPath, serverCPU, func(line string) (string, bool) {
		u, ok := strings.CutPrefix(line, "yardstick listening on ")
		return strings.TrimSuffix(strings.TrimSpace(u), "/mcp"), ok
	})
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// stat is the median and the range of one measure over the rounds.
type stat struct{ med, lo, hi float64 }

func statOf(xs []float64) stat {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return stat{}
	}
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}
}

func (s stat) String() string {
	spread := 0.0
	if s.med != 0 {
		spread = (s.hi - s.lo) / s.med * 100
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f, ±%.0f %%)", s.med, s.lo, s.hi, spread/2)
}

func (sb *sideBySide) cpu(name string) []float64 {
	var out []float64
	for _, s := range sb.samples[name] {
		out = append(out, s.res.cpuPerCall(s.res.cpuTicks))
	}
	return out
}

func (sb *sideBySide) rate(name string) []float64 {
	var out []float64
	for _, s := range sb.samples[name] {
		out = append(out, s.res.rate())
	}
	return out
}

// ratios is a/b per round (a and b measured next to each other).
func ratios(a, b []float64) []float64 {
	var out []float64
	for i := range min(len(a), len(b)) {
		if b[i] != 0 {
			out = append(out, a[i]/b[i])
		}
	}
	return out
}

func fmtRatio(r []float64) string {
	s := statOf(r)
	return fmt.Sprintf("%.2f (rounds: %.2f–%.2f)", s.med, s.lo, s.hi)
}

func (sb *sideBySide) print(w io.Writer) {
	fmt.Fprintf(w, "Side by side, c%d, `tools/call` through each server pinned to the server CPU in turn; load average before the step: %s\n\n", sb.conc, sb.before)
	fmt.Fprintln(w, "| round | server | calls | calls/s | CPU µs/call | p50 | p99 | errors | load avg 1/5/15 min |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---|")
	rounds := 0
	for _, n := range sb.names {
		rounds = max(rounds, len(sb.samples[n]))
	}
	for r := range rounds {
		for _, n := range sb.names {
			if r >= len(sb.samples[n]) {
				continue
			}
			s := sb.samples[n][r]
			fmt.Fprintf(w, "| %d | %s | %d | %.0f | %.0f | %s | %s | %d | %s |\n", r+1, n, s.res.n, s.res.rate(),
				s.res.cpuPerCall(s.res.cpuTicks), fmtDur(s.res.p(50)), fmtDur(s.res.p(99)), s.res.errs, s.load)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | CPU µs/call, median (range, ± half-range) | calls/s, median (range, ± half-range) |")
	fmt.Fprintln(w, "|---|---:|---:|")
	for _, n := range sb.names {
		fmt.Fprintf(w, "| %s | %s | %s |\n", n, statOf(sb.cpu(n)), statOf(sb.rate(n)))
	}
	fmt.Fprintln(w)
	if len(sb.samples["ref"]) > 0 {
		for _, n := range sb.names {
			if n == "ref" {
				continue
			}
			fmt.Fprintf(w, "**Ratio %s / ref**: CPU µs per call %s; calls/s %s.\n\n", n,
				fmtRatio(ratios(sb.cpu(n), sb.cpu("ref"))), fmtRatio(ratios(sb.rate(n), sb.rate("ref"))))
		}
	}
	if n := sb.second; n != "" && len(sb.samples[n]) > 0 {
		fmt.Fprintf(w, "**Ratio %s / bridge**: CPU µs per call %s; calls/s %s.\n\n", n,
			fmtRatio(ratios(sb.cpu(n), sb.cpu("bridge"))), fmtRatio(ratios(sb.rate(n), sb.rate("bridge"))))
	}
	for _, n := range sb.compared {
		fmt.Fprintf(w, "**Ratio bridge / %s**: CPU µs per call %s; calls/s %s.\n\n", n,
			fmtRatio(ratios(sb.cpu("bridge"), sb.cpu(n))), fmtRatio(ratios(sb.rate("bridge"), sb.rate(n))))
	}
}
