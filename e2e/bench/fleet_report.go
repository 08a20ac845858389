package main

// The fleet step's report: its tables, with the load average beside each
// figure, and the parsing of its flags' lists.

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"
)

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
