package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// defaultFanoutConcurrency is FANOUT_CONCURRENCY's default.
const defaultFanoutConcurrency = 8

// MaxFanoutConcurrency bounds FANOUT_CONCURRENCY (the server refuses
// more): past it, a fan-out only opens more sockets at once without
// finishing sooner.
const MaxFanoutConcurrency = 256

func (d *Deps) fanoutConcurrency() int {
	switch n := d.FanoutConcurrency; {
	case n <= 0:
		return defaultFanoutConcurrency
	case n > MaxFanoutConcurrency:
		return MaxFanoutConcurrency
	default:
		return n
	}
}

// explicitFanouter is implemented by inputs whose fan-out needs a policy
// rule that allows it on purpose: a command or a service action run on
// many hosts at once is a different grant from the same call on one.
type explicitFanouter interface{ explicitFanout() bool }

func needsExplicitFanout(in any) bool {
	e, ok := in.(explicitFanouter)
	return ok && e.explicitFanout()
}

// hostResult is one host's entry in a fan-out result.
type hostResult struct {
	Host       string          `json:"host"`
	OK         bool            `json:"ok"`
	Outcome    string          `json:"outcome"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      string          `json:"error,omitempty"`
	PolicyRule string          `json:"policy_rule,omitempty"`
	MS         int64           `json:"ms"`
}

// fanoutShare is how many bytes of its own result one of n hosts may put
// in a fan-out's answer: a third of MCP_MAX_RESPONSE_BYTES split between
// them (the answer carries the JSON twice, as text and structuredContent),
// at least 4 KiB. Without it, a fan-out of large outputs would be held
// whole in memory and then refused by the response cap after every host
// had run the call.
func (d *Deps) fanoutShare(n int) int {
	budget := d.MaxFanoutBytes
	if budget <= 0 {
		budget = defaultMaxFanoutBytes
	}
	return max(int(budget)/max(n, 1), 4<<10)
}

// defaultMaxFanoutBytes is a third of MCP_MAX_RESPONSE_BYTES's default.
const defaultMaxFanoutBytes = 32 << 20 / 3

// bound replaces a result larger than share with a note saying how large
// it was and how to get it whole.
func (r *hostResult) bound(share int) {
	if len(r.Result) <= share {
		return
	}
	note, _ := json.Marshal(map[string]any{
		"truncated": true, "bytes": len(r.Result),
		"hint": fmt.Sprintf("this host's answer is larger than its share of a fan-out (%d bytes); call it alone with host %q", share, r.Host),
	})
	r.Result = note
}

// fanSummary counts a fan-out's hosts by outcome.
type fanSummary struct {
	Hosts       int `json:"hosts"`
	OK          int `json:"ok"`
	Denied      int `json:"denied"`
	Unreachable int `json:"unreachable"`
	Error       int `json:"error"`
}

func (s *fanSummary) add(r hostResult) {
	s.Hosts++
	switch {
	case r.OK:
		s.OK++
	case r.Outcome == "policy_denied":
		s.Denied++
	case r.Outcome == upstream.KindUnreachable.String():
		s.Unreachable++
	default:
		s.Error++
	}
}

// fanout runs one call on every host that hosts/selector pick: each host
// authorized on its own (policy with that host, then scope), at most
// FANOUT_CONCURRENCY at once, each with its host's timeout, one audit line
// per host. The result lists every host with its outcome, so a dead or
// slow host never hides the others; it is an error result only when no
// host succeeded.
func fanout[In any](ctx context.Context, d *Deps, spec Spec, who caller, reg *fleet.Registry, in In, f FanTarget, summarize summaryFunc[In], fn callFunc[In]) *mcp.CallToolResult {
	start := time.Now()
	summary := summaryOf(summarize, in)
	fail := func(err error) *mcp.CallToolResult {
		return d.record(ctx, &call{spec: spec, who: who, reg: reg, summary: summary, elapsed: time.Since(start), err: err})
	}
	if f.Host != "" {
		return fail(inputError("give either host or hosts/selector, not both"))
	}
	targets, err := reg.Select(f.Hosts, f.Selector)
	if err != nil {
		return fail(inputError(err.Error()))
	}
	if err := precheck(in); err != nil {
		return fail(err)
	}
	explicit := needsExplicitFanout(in)
	// One policy for every host of the call, even if the file reloads
	// while the fan-out runs.
	if p := d.policy(); d.Policy != nil {
		dd := *d
		dd.Policy = func() *policy.Policy { return p }
		d = &dd
	}
	if explicit && d.policy() == nil {
		return fail(&policyDenied{policy.DefaultRule, fmt.Sprintf(
			"fan-out of %s needs a policy rule that allows it explicitly (POLICY_FILE, a rule whose when reads fanout or hosts; see docs/fleet.md); or call one host at a time with host", spec.Name)})
	}
	names := make([]string, len(targets))
	for i, h := range targets {
		names[i] = h.Name
	}

	results := make([]hostResult, len(targets))
	share := d.fanoutShare(len(targets))
	sem := make(chan struct{}, d.fanoutConcurrency())
	var wg sync.WaitGroup
	for i, h := range targets {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			// The caller is gone: the hosts not started are not called.
			results[i] = hostResult{Host: h.Name, Outcome: upstream.KindCanceled.String(), Error: "not started: the call was canceled"}
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := &call{spec: spec, who: who, reg: reg, host: h, targets: names, summary: summary}
			results[i] = fanOne(ctx, d, c, in, explicit, fn)
			results[i].bound(share)
		}()
	}
	wg.Wait()

	var sum fanSummary
	for _, r := range results {
		sum.add(r)
	}
	c := &call{spec: spec, who: who, reg: reg, elapsed: time.Since(start)}
	raw, err := json.Marshal(struct {
		Results []hostResult `json:"results"`
		Summary fanSummary   `json:"summary"`
	}{results, sum})
	if err != nil {
		return fail(err)
	}
	return jsonResult(raw, c.meta(), sum.OK == 0)
}

// fanOne is one host's part of a fan-out.
func fanOne[In any](ctx context.Context, d *Deps, c *call, in In, explicit bool, fn callFunc[In]) hostResult {
	ctx = withHost(ctx, c.host)
	start := time.Now()
	t := c.target()
	t.ExplicitFanout = explicit
	c.rule, c.err = authorizeTarget(ctx, d, c.spec, c.who, in, t)
	if c.err == nil {
		c.raw, c.err = run(ctx, d, c, in, fn)
	}
	c.elapsed = time.Since(start)
	r := hostResult{Host: c.host.Name, OK: c.err == nil, Outcome: d.account(ctx, c), MS: c.elapsed.Milliseconds()}
	if c.err == nil {
		r.Result = c.raw
		return r
	}
	r.Error = c.err.Error()
	var pd *policyDenied
	if errors.As(c.err, &pd) {
		r.PolicyRule = pd.rule
	}
	return r
}
