package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// The latency step (issue 19, part 3): the latency a user feels, as the
// difference between the same call through the bridge and straight to the
// agent. The agent answers after -latency-delay (1 ms); it runs next to the
// load generator on the other CPU in both cases, the bridge on the server
// CPU, so the difference is the bridge's hop and work. Two steps, each
// repeated -latency-reps times with direct and bridge interleaved:
//
//   - closed loop at concurrency 1 (p50, p99), -duration per run;
//   - open loop at -latency-rate calls/s (p99), -duration per run.
//
// Each run's load average is kept beside its figures; the summary is the
// median and the range of the per-repetition differences (bridge minus the
// direct run next to it).

// latRun is one measured run of one target.
type latRun struct {
	res  *result
	load string
}

type latencyStep struct {
	name   string // "c1" or "open loop 1000/s"
	direct []latRun
	bridge []latRun
}

type latencyReport struct {
	delay  time.Duration
	before string // load average before the step started anything
	steps  []*latencyStep
}

func runLatency(ctx context.Context, o options, idp *idp, tmp string, rep *report) error {
	lr := &latencyReport{delay: o.latDelay, before: loadavg()}
	agent, err := startAgent(ctx, o.bin, o.latDelay, filepath.Join(tmp, "agent-latency.log"))
	if err != nil {
		return err
	}
	defer agent.stop()
	pin(agent.pid(), otherCPUs)
	bridge, err := startBridge(ctx, o, idp, agent.url, filepath.Join(tmp, "bridge-latency.log"), nil)
	if err != nil {
		return err
	}
	defer bridge.stop()
	tok := idp.mint(bridge.url+"/mcp", "sentinelx:state", time.Hour)
	direct := func() *http.Request { return directReq(agent.url, "state") }
	viaBridge := func() *http.Request { return bridgeReq(bridge.url, tok, "sentinel_state") }

	client := newClient()
	// Warm up connections, caches and the heap on both paths.
	load(ctx, client, direct, checkDirect, 4, o.warmup, o.duration)
	load(ctx, client, viaBridge, checkBridge, 4, o.warmup, o.duration)

	closed := &latencyStep{name: "concurrency 1, closed loop"}
	open := &latencyStep{name: fmt.Sprintf("open loop, %.0f calls/s", o.latRate)}
	lr.steps = []*latencyStep{closed, open}
	for r := 1; r <= o.latReps; r++ {
		for _, tg := range []struct {
			name  string
			mk    func() *http.Request
			check func(int, []byte) error
			into  *[]latRun
		}{{"direct", direct, checkDirect, &closed.direct}, {"bridge", viaBridge, checkBridge, &closed.bridge}} {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			la := loadavg()
			res := load(ctx, client, tg.mk, tg.check, 1, o.max, o.duration)
			*tg.into = append(*tg.into, latRun{res, la})
			fmt.Fprintf(os.Stderr, "latency, rep %d: %-6s c1 %s (load %s)\n", r, tg.name, res.brief(), la)
		}
		if o.latRate <= 0 {
			continue
		}
		for _, tg := range []struct {
			name  string
			mk    func() *http.Request
			check func(int, []byte) error
			into  *[]latRun
		}{{"direct", direct, checkDirect, &open.direct}, {"bridge", viaBridge, checkBridge, &open.bridge}} {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			la := loadavg()
			res := steady(ctx, client, tg.mk, tg.check, o.latRate, o.duration)
			*tg.into = append(*tg.into, latRun{res, la})
			fmt.Fprintf(os.Stderr, "latency, rep %d: %-6s %.0f/s %s (load %s)\n", r, tg.name, o.latRate, res.brief(), la)
		}
	}
	if o.latRate <= 0 {
		lr.steps = lr.steps[:1]
	}
	rep.latency = lr
	lr.print(os.Stderr)
	return nil
}

// added is bridge minus direct at quantile q, per repetition, in µs.
func (s *latencyStep) added(q float64) []float64 {
	var out []float64
	for i := range min(len(s.direct), len(s.bridge)) {
		out = append(out, float64(s.bridge[i].res.p(q)-s.direct[i].res.p(q))/1e3)
	}
	return out
}

func quantileUS(runs []latRun, q float64) []float64 {
	var out []float64
	for _, r := range runs {
		out = append(out, float64(r.res.p(q))/1e3)
	}
	return out
}

// fmtUS is a median and range of µs figures, as ms when large.
func fmtUS(xs []float64) string {
	s := statOf(xs)
	f := func(v float64) string { return fmtDur(time.Duration(v * 1e3)) }
	if s.lo < 0 || s.med < 0 {
		f = func(v float64) string {
			if v < 0 {
				return "−" + fmtDur(time.Duration(-v*1e3))
			}
			return "+" + fmtDur(time.Duration(v*1e3))
		}
	}
	return fmt.Sprintf("%s (%s … %s)", f(s.med), f(s.lo), f(s.hi))
}

func (lr *latencyReport) print(w io.Writer) {
	fmt.Fprintf(w, "Latency, `tools/call sentinel_state` through the bridge vs `GET /state` straight to the agent (agent delay %s, agent and load generator on CPU %s, bridge on CPU %s); load average before the step: %s\n\n",
		lr.delay, otherCPUs, serverCPU, lr.before)
	fmt.Fprintln(w, "| step | rep | target | calls | calls/s | p50 | p99 | errors | load avg 1/5/15 min |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---|")
	for _, s := range lr.steps {
		for i := range max(len(s.direct), len(s.bridge)) {
			for _, t := range []struct {
				name string
				runs []latRun
			}{{"direct", s.direct}, {"bridge", s.bridge}} {
				if i >= len(t.runs) {
					continue
				}
				r := t.runs[i]
				fmt.Fprintf(w, "| %s | %d | %s | %d | %.0f | %s | %s | %d | %s |\n", s.name, i+1, t.name, r.res.n, r.res.rate(),
					fmtDur(r.res.p(50)), fmtDur(r.res.p(99)), r.res.errs, r.load)
			}
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| step | direct p50 | bridge p50 | added p50 | direct p99 | bridge p99 | added p99 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, s := range lr.steps {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", s.name,
			fmtUS(quantileUS(s.direct, 50)), fmtUS(quantileUS(s.bridge, 50)), fmtUS(s.added(50)),
			fmtUS(quantileUS(s.direct, 99)), fmtUS(quantileUS(s.bridge, 99)), fmtUS(s.added(99)))
	}
	fmt.Fprintln(w, "\nMedian over the repetitions (lowest … highest); added = bridge minus the direct run next to it, per repetition.")
	fmt.Fprintln(w)
}
