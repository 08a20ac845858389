package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

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
	sbs      *sideBySide
	latency  *latencyReport
}

// machine is the CPU model, count, OS and architecture.
func machine() string {
	model := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return model + ", " + strconv.Itoa(runtime.NumCPU()) + " CPUs, " + runtime.GOOS + "/" + runtime.GOARCH
}

func (r *report) header(o options) {
	pinning := "none (fewer than 2 CPUs or no taskset)"
	if otherCPUs != "" {
		pinning = "server under test on CPU " + serverCPU + ", load generator (and the agent when the bridge is measured) on CPU " + otherCPUs
	}
	r.head = []string{
		"- date: " + time.Now().UTC().Format(time.RFC3339),
		"- machine: " + machine(),
		"- load generator built with " + runtime.Version(),
		"- pinning: " + pinning,
		fmt.Sprintf("- per step: at most %d requests or %s, after %d warm-up requests; bridge: stateless, RS256 JWT (one token, so the verified-token cache serves it), RATE_LIMIT=0, default logging to a file", o.max, o.duration, o.warmup),
	}
	r.head = append(r.head, "- MCP requests: Accept: "+accept+", MCP-Protocol-Version: 2025-06-18")
	if o.latOnly || (o.latReps > 0 && !o.sbsOnly) {
		r.head = append(r.head, fmt.Sprintf("- latency: %d repetitions, direct and bridge interleaved; agent delay %s; concurrency 1 closed loop and %.0f calls/s open loop, each at most %d requests or %s", o.latReps, o.latDelay, o.latRate, o.max, o.duration))
	}
	if o.rounds > 0 && !o.latOnly {
		r.head = append(r.head, fmt.Sprintf("- side by side: %d rounds, interleaved; bridge: `tools/call sentinel_state` to a 0 ms agent over HTTP (agent next to the load generator); ref: bare go-sdk stateless server (e2e/yardstick -issuer), auth.RequireBearerToken verifying the RS256 JWT on every call (go-jose, no cache), one trivial tool (`echo`), default GC", o.rounds))
		for _, c := range o.compare {
			r.head = append(r.head, "- compared in the same step: `"+c.name+"` ("+c.bin+"), the same environment and requests as `bridge`; even rounds run the servers in the reverse order")
		}
		if o.noRef {
			r.head = append(r.head, "- ref left out (-no-ref)")
		}
		r.head = append(r.head, "- load average (/proc/loadavg) includes this run's own server and load generator (up to ~2 while a step runs)")
	}
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
	if r.sbs != nil {
		r.sbs.print(w)
	}
	if r.latency != nil {
		r.latency.print(w)
	}
	if len(r.rows) == 0 && len(r.rss) == 0 {
		return
	}
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
