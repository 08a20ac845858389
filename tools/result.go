package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools/policy"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// proxyName is reported in every result's _meta, as the old bridge did.
const proxyName = "sentinelx-mcp"

// caller is who made a call, from the verified token.
type caller struct {
	Subject, Username, ClientID string
	Authenticated               bool
	Scopes                      []string
	Claims                      map[string]any
}

func callerOf(req *mcp.CallToolRequest) caller {
	if req == nil || req.Extra == nil {
		return caller{}
	}
	return callerOfToken(req.Extra.TokenInfo)
}

func callerOfToken(ti *auth.TokenInfo) caller {
	if ti == nil {
		return caller{}
	}
	c := caller{Subject: ti.UserID, Authenticated: true, Scopes: ti.Scopes}
	c.Username, _ = ti.Extra["username"].(string)
	c.ClientID, _ = ti.Extra["client_id"].(string)
	c.Claims, _ = ti.Extra["claims"].(map[string]any)
	return c
}

// headers name the caller to the agent so its own logs can say who acted
// (the agent sees only the bridge's static token otherwise). Never the
// caller's token: no token passthrough.
func (c caller) headers() http.Header {
	h := http.Header{}
	for k, v := range map[string]string{
		"X-SentinelX-Subject": c.Subject, "X-SentinelX-Username": c.Username, "X-SentinelX-Client": c.ClientID,
	} {
		if v = headerSafe(v); v != "" {
			h.Set(k, v)
		}
	}
	return h
}

// headerSafe keeps printable ASCII (claims may hold anything; an invalid
// header value would make the agent call fail) and bounds the length.
func headerSafe(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
	return truncate(s, 256)
}

// callFunc does a tool's work and returns the agent's JSON object.
type callFunc[In any] func(ctx context.Context, in In) (json.RawMessage, error)

// summaryFunc describes a call's arguments for the audit log: sizes and
// hashes, never file contents or script bodies.
type summaryFunc[In any] func(in In) []any

// handle wraps a tool's work with what every tool result carries: the
// agent JSON as text and structuredContent, _meta {proxy, ms, subject,
// preferred_username}, an isError result (never a protocol error) with a
// message a person can act on when anything fails, and one audit line.
// A call goes through three steps: [authorize] (may this caller make this
// call?), [run] (an agent slot, then the tool's work, panics contained) and
// [Deps.record] (outcome, metrics, audit line, result).
//
// Like the old bridge, the object also carries the same _meta as a key, so
// prompts and scripts written against it keep working; the MCP-level
// result._meta is where protocol-aware clients look.
func handle[In any](d *Deps, spec Spec, summarize summaryFunc[In], fn callFunc[In]) mcp.ToolHandlerFor[In, any] {
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		who := callerOf(req)
		ctx = upstream.WithCallerHeaders(ctx, who.headers())
		ctx = context.WithValue(ctx, callerKey{}, who)
		reg := d.Hosts.Registry()
		if f, ok := any(in).(fanned); ok && f.fan().fanout() {
			return fanout(ctx, d, spec, who, reg, in, f.fan(), summarize, fn), nil, nil
		}
		c := &call{spec: spec, who: who, reg: reg}
		start := time.Now()
		if t, ok := any(in).(targeted); ok {
			if c.host, c.err = d.pickHost(reg, who, spec.Name, t.target().Host); c.host != nil {
				ctx = withHost(ctx, c.host)
			}
		}
		if c.err == nil {
			c.rule, c.err = authorize(ctx, d, spec, who, in, c.target())
		}
		if c.err == nil {
			c.raw, c.err = run(ctx, d, c, in, fn)
		}
		c.elapsed = time.Since(start)
		c.summary = summaryOf(summarize, in)
		return d.record(ctx, c), nil, nil
	}
}

// summaryOf is a call's arguments as the audit log shows them.
func summaryOf[In any](summarize summaryFunc[In], in In) slog.Attr {
	if summarize == nil {
		return slog.Attr{}
	}
	return slog.Group("args", summarize(in)...)
}

// call is one tool call on its way from [authorize] to [Deps.record]; in
// a fan-out, one host's part of it.
type call struct {
	spec    Spec
	who     caller
	reg     *fleet.Registry // the registry the call started with
	host    *fleet.Host     // where it goes; nil for tools that never reach an agent
	targets []string        // every host of the fan-out this call is part of; nil otherwise
	rule    string          // the policy rule that decided, if any
	summary slog.Attr       // the arguments as the audit log shows them; empty without a summaryFunc
	elapsed time.Duration
	raw     json.RawMessage // the agent's JSON object, when err is nil
	err     error
}

// fleet reports whether the call is on a multi-host registry, where the
// audit line, metrics and _meta name the host.
func (c *call) fleet() bool { return c.host != nil && c.reg != nil && !c.reg.Single() }

// target is what the policy knows about where the call goes.
func (c *call) target() policy.Target {
	if c.host == nil {
		return policy.Target{}
	}
	t := policy.Target{Host: c.host.Name, Labels: c.host.Labels, Hosts: c.targets, Fanout: c.targets != nil}
	if t.Hosts == nil {
		t.Hosts = []string{c.host.Name}
	}
	return t
}

// authorize decides whether who may make this call, before anything is
// sent to the agent: arguments a rule could misread are refused before any
// rule runs, then [authorizeTarget].
func authorize[In any](ctx context.Context, d *Deps, spec Spec, who caller, in In, t policy.Target) (rule string, err error) {
	if err := precheck(in); err != nil {
		return "", err
	}
	return authorizeTarget(ctx, d, spec, who, in, t)
}

// authorizeTarget lets the policy decide for the call's host, then checks
// the scope once more. It returns the deciding policy rule, if any. A
// fan-out runs it once per host, after one precheck of the arguments.
func authorizeTarget[In any](ctx context.Context, d *Deps, spec Spec, who caller, in In, t policy.Target) (rule string, err error) {
	if rule, err = checkPolicy(d, spec, who, in, t); err != nil {
		return rule, err
	}
	if d.RequireScopes && spec.Scope != "" && !slices.Contains(who.Scopes, spec.Scope) {
		// The HTTP scope gate should have stopped this call; reaching
		// here means a path around it (a decoder change in go-sdk, a
		// new route). Refuse rather than trust a single layer.
		d.Audit.LogAttrs(ctx, slog.LevelError, "scope gate bypassed; refused in the tool handler",
			slog.String("tool", spec.Name), slog.String("subject", who.Subject))
		return rule, inputError("Missing required scope: " + spec.Scope)
	}
	return rule, nil
}

// errNoSlot marks a call that never got an agent slot (Deps.Slots or the
// host's own cap).
var errNoSlot = errors.New("busy")

// run does the tool's work. A call to the agent first takes a slot: on a
// multi-host registry the host's own (after failing at once if the host
// is marked down), else one of the shared Deps.Slots.
func run[In any](ctx context.Context, d *Deps, c *call, in In, fn callFunc[In]) (json.RawMessage, error) {
	switch {
	case c.fleet():
		if err := c.host.Available(); err != nil {
			return nil, err
		}
		release, err := d.takeSlot(ctx, c.host.Acquire)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoSlot, err)
		}
		defer release()
		raw, err := runSafely(ctx, d, in, fn)
		c.host.Observe(err)
		return raw, err
	case c.host != nil && d.Slots != nil:
		release, err := d.takeSlot(ctx, func(ctx context.Context) (func(), error) {
			return d.Slots.Acquire(ctx, callerFrom(ctx).Subject)
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoSlot, err)
		}
		defer release()
	}
	return runSafely(ctx, d, in, fn)
}

// takeSlot waits for a slot from acquire, at most SlotWait (the time the
// call itself could take) and never past the caller's context.
func (d *Deps) takeSlot(ctx context.Context, acquire func(context.Context) (func(), error)) (func(), error) {
	if d.SlotWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.SlotWait)
		defer cancel()
	}
	free, err := acquire(ctx)
	if err != nil || d.Recorder == nil {
		return free, err
	}
	done := d.Recorder.UpstreamSlot()
	return func() { done(); free() }, nil
}

// HostRecorder is implemented by a [Recorder] that also counts calls per
// host on a multi-host registry. The host label comes from the registry,
// never from what a caller typed.
type HostRecorder interface {
	HostCall(host, outcome string, d time.Duration)
}

// account reports a finished call (or one host's part of a fan-out) to
// the metrics and the audit log, and returns its outcome.
func (d *Deps) account(ctx context.Context, c *call) (outcome string) {
	name, callsAgent := c.spec.Name, c.host != nil
	attrs := []any{"tool", name}
	if c.fleet() {
		attrs = append(attrs, "host", c.host.Name)
		if c.targets != nil {
			attrs = append(attrs, "fanout", len(c.targets))
		}
	}
	attrs = append(attrs, "subject", c.who.Subject, "username", c.who.Username, "client_id", c.who.ClientID, "ms", c.elapsed.Milliseconds())
	if c.summary.Key != "" {
		attrs = append(attrs, c.summary)
	}
	if c.rule != "" {
		attrs = append(attrs, "policy_rule", c.rule)
	}
	level := slog.LevelInfo
	outcome = "ok"
	if c.err != nil {
		var ue *upstream.Error
		outcome, ue, _ = outcomeOf(c.err)
		attrs = append(attrs, "outcome", outcome)
		if ue != nil {
			attrs = append(attrs, "upstream_status", ue.Status)
		}
		attrs = append(attrs, "error", c.err.Error())
		level = slog.LevelWarn
	} else {
		attrs = append(attrs, "outcome", outcome)
		if callsAgent {
			attrs = append(attrs, "upstream_status", http.StatusOK)
		}
	}
	if d.Recorder != nil {
		d.Recorder.ToolCall(name, outcome, c.elapsed, callsAgent)
		if hr, ok := d.Recorder.(HostRecorder); ok && c.fleet() {
			hr.HostCall(c.host.Name, outcome, c.elapsed)
		}
	}
	// A record without a caller's PC: Logger.LogAttrs would walk the stack
	// for a source location no handler here prints.
	if h := d.Audit.Handler(); h.Enabled(ctx, level) {
		r := slog.NewRecord(time.Now(), level, "tool call", 0)
		r.AddAttrs(argsToAttrs(attrs)...)
		_ = h.Handle(ctx, r)
	}
	return outcome
}

// meta is the _meta every result carries.
func (c *call) meta() mcp.Meta {
	m := mcp.Meta{"proxy": proxyName, "ms": c.elapsed.Milliseconds(), "subject": c.who.Subject, "preferred_username": c.who.Username}
	if c.fleet() && c.targets == nil {
		m["host"] = c.host.Name
	}
	return m
}

// record ends a call: its outcome goes to the metrics and the audit log,
// and it becomes the tool result with _meta.
func (d *Deps) record(ctx context.Context, c *call) *mcp.CallToolResult {
	d.account(ctx, c)
	meta := c.meta()
	if c.err != nil {
		res := errorResult(c.err)
		res.Meta = meta
		if _, _, pd := outcomeOf(c.err); pd != nil {
			res.Meta["policy_rule"] = pd.rule
		}
		return res
	}
	return jsonResult(c.raw, meta, false)
}

// jsonResult is a result whose text and structuredContent are raw, with
// meta both as the result's _meta and as a key of the object.
func jsonResult(raw json.RawMessage, meta mcp.Meta, isError bool) *mcp.CallToolResult {
	if withMeta, err := withField(raw, "_meta", meta); err == nil {
		raw = withMeta
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(raw)}},
		StructuredContent: raw,
		Meta:              meta,
		IsError:           isError,
	}
}

// outcomeOf names a failed call's outcome for the audit log and metrics,
// with the agent's error or the policy denial behind it, if that is what
// it was.
func outcomeOf(err error) (outcome string, ue *upstream.Error, pd *policyDenied) {
	var ie inputError
	switch {
	case errors.As(err, &pd):
		return "policy_denied", nil, pd
	case errors.As(err, &ue):
		return ue.Kind.String(), ue, nil
	case errors.As(err, &ie):
		return "invalid_input", nil, nil
	case errors.Is(err, errNoSlot):
		return "busy", nil, nil
	}
	return "error", nil, nil
}

// errInternal is what a caller sees when a handler panicked: go-sdk runs
// tool handlers on a session goroutine without recover, so an unrecovered
// panic would stop the whole process.
var errInternal = errors.New("internal error in the bridge while handling this call; nothing more was sent to the agent, and the details are in the server log")

func runSafely[In any](ctx context.Context, d *Deps, in In, fn callFunc[In]) (raw json.RawMessage, err error) {
	defer func() {
		if p := recover(); p != nil {
			d.Audit.LogAttrs(ctx, slog.LevelError, "tool handler panic",
				slog.String("panic", fmt.Sprint(p)), slog.String("stack", string(debug.Stack())))
			raw, err = nil, errInternal
		}
	}()
	return fn(ctx, in)
}

// errorResult turns a failure into an isError tool result. Agent refusals
// keep the agent's JSON (e.g. allowed_actions) as structuredContent so a
// model can correct itself.
func errorResult(err error) *mcp.CallToolResult {
	res := &mcp.CallToolResult{IsError: true}
	msg := err.Error()
	var ue *upstream.Error
	if errors.As(err, &ue) {
		if len(ue.Body) > 0 && ue.Body[0] == '{' {
			res.StructuredContent = ue.Body
		}
	}
	res.Content = []mcp.Content{&mcp.TextContent{Text: msg}}
	return res
}

func argsToAttrs(args []any) []slog.Attr {
	r := slog.Record{}
	r.Add(args...)
	out := make([]slog.Attr, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool { out = append(out, a); return true })
	return out
}

// agentJSON passes on an agent call's error, or its body as sent.
func agentJSON[T interface{ JSON() json.RawMessage }](r T, err error) (json.RawMessage, error) {
	if err != nil {
		return nil, err
	}
	return r.JSON(), nil
}
