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

	"github.com/pensados/sentinelx-mcp/upstream"
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
		c := &call{spec: spec, who: callerOf(req)}
		ctx = upstream.WithCallerHeaders(ctx, c.who.headers())
		ctx = context.WithValue(ctx, callerKey{}, c.who)
		start := time.Now()
		c.rule, c.err = authorize(ctx, d, spec, c.who, in)
		if c.err == nil {
			c.raw, c.err = run(ctx, d, spec, in, fn)
		}
		c.elapsed = time.Since(start)
		if summarize != nil {
			c.summary = slog.Group("args", summarize(in)...)
		}
		return d.record(ctx, c), nil, nil
	}
}

// call is one tool call on its way from [authorize] to [Deps.record].
type call struct {
	spec    Spec
	who     caller
	rule    string    // the policy rule that decided, if any
	summary slog.Attr // the arguments as the audit log shows them; empty without a summaryFunc
	elapsed time.Duration
	raw     json.RawMessage // the agent's JSON object, when err is nil
	err     error
}

// authorize decides whether who may make this call, before anything is
// sent to the agent: arguments a rule could misread are refused before any
// rule runs, then the policy decides, then the scope is checked once more.
// It returns the deciding policy rule, if any.
func authorize[In any](ctx context.Context, d *Deps, spec Spec, who caller, in In) (rule string, err error) {
	if err := precheck(in); err != nil {
		return "", err
	}
	if rule, err = checkPolicy(d, spec, who, in); err != nil {
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

// errNoSlot marks a call that never got an agent slot (Deps.Slots).
var errNoSlot = errors.New("busy")

// run does the tool's work, first taking an agent slot when the tool calls
// the agent and a limit is configured.
func run[In any](ctx context.Context, d *Deps, spec Spec, in In, fn callFunc[In]) (json.RawMessage, error) {
	if spec.Scope != "" && d.Slots != nil {
		release, err := d.takeSlot(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNoSlot, err)
		}
		defer release()
	}
	return runSafely(ctx, d, in, fn)
}

// takeSlot waits for one of the agent slots within the caller's share, at
// most SlotWait (the time the call itself could take) and never past the
// caller's context.
func (d *Deps) takeSlot(ctx context.Context) (func(), error) {
	if d.SlotWait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d.SlotWait)
		defer cancel()
	}
	free, err := d.Slots.Acquire(ctx, callerFrom(ctx).Subject)
	if err != nil || d.Recorder == nil {
		return free, err
	}
	done := d.Recorder.UpstreamSlot()
	return func() { done(); free() }, nil
}

// record ends a call: its outcome goes to the metrics and the audit log,
// and it becomes the tool result with _meta.
func (d *Deps) record(ctx context.Context, c *call) *mcp.CallToolResult {
	name, callsAgent := c.spec.Name, c.spec.Scope != ""
	ms := c.elapsed.Milliseconds()
	meta := mcp.Meta{"proxy": proxyName, "ms": ms, "subject": c.who.Subject, "preferred_username": c.who.Username}

	attrs := []any{"tool", name, "subject", c.who.Subject, "username", c.who.Username, "client_id", c.who.ClientID, "ms", ms}
	if c.summary.Key != "" {
		attrs = append(attrs, c.summary)
	}
	if c.rule != "" {
		attrs = append(attrs, "policy_rule", c.rule)
	}
	if c.err != nil {
		res := errorResult(c.err)
		res.Meta = meta
		outcome, ue, pd := outcomeOf(c.err)
		if pd != nil {
			res.Meta["policy_rule"] = pd.rule
		}
		attrs = append(attrs, "outcome", outcome)
		if ue != nil {
			attrs = append(attrs, "upstream_status", ue.Status)
		}
		if d.Recorder != nil {
			d.Recorder.ToolCall(name, outcome, c.elapsed, callsAgent)
		}
		d.Audit.LogAttrs(ctx, slog.LevelWarn, "tool call", argsToAttrs(append(attrs, "error", c.err.Error()))...)
		return res
	}
	attrs = append(attrs, "outcome", "ok")
	if d.Recorder != nil {
		d.Recorder.ToolCall(name, "ok", c.elapsed, callsAgent)
	}
	if callsAgent {
		attrs = append(attrs, "upstream_status", http.StatusOK)
	}
	d.Audit.LogAttrs(ctx, slog.LevelInfo, "tool call", argsToAttrs(attrs)...)
	raw := c.raw
	if withMeta, err := withField(raw, "_meta", meta); err == nil {
		raw = withMeta
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{&mcp.TextContent{Text: string(raw)}},
		StructuredContent: raw,
		Meta:              meta,
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
