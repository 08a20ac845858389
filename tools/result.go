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
//
// Like the old bridge, the object also carries the same _meta as a key, so
// prompts and scripts written against it keep working; the MCP-level
// result._meta is where protocol-aware clients look.
func handle[In any](d *Deps, spec Spec, summarize summaryFunc[In], fn callFunc[In]) mcp.ToolHandlerFor[In, any] {
	name, callsAgent := spec.Name, spec.Scope != ""
	return func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		who := callerOf(req)
		ctx = upstream.WithCallerHeaders(ctx, who.headers())
		ctx = context.WithValue(ctx, callerKey{}, who)
		start := time.Now()
		// Arguments a rule could misread are refused before any rule runs.
		var rule string
		err := precheck(in)
		if err == nil {
			rule, err = authorize(d, spec, who, in)
		}
		if err == nil && d.RequireScopes && spec.Scope != "" && !slices.Contains(who.Scopes, spec.Scope) {
			// The HTTP scope gate should have stopped this call; reaching
			// here means a path around it (a decoder change in go-sdk, a
			// new route). Refuse rather than trust a single layer.
			d.Audit.LogAttrs(ctx, slog.LevelError, "scope gate bypassed; refused in the tool handler",
				slog.String("tool", name), slog.String("subject", who.Subject))
			err = inputError("Missing required scope: " + spec.Scope)
		}
		var raw json.RawMessage
		if err == nil {
			raw, err = acquireAndRun(ctx, d, callsAgent, in, fn)
		}
		elapsed := time.Since(start)
		ms := elapsed.Milliseconds()
		meta := mcp.Meta{"proxy": proxyName, "ms": ms, "subject": who.Subject, "preferred_username": who.Username}

		attrs := []any{"tool", name, "subject", who.Subject, "username", who.Username, "client_id", who.ClientID, "ms", ms}
		if summarize != nil {
			attrs = append(attrs, slog.Group("args", summarize(in)...))
		}
		if rule != "" {
			attrs = append(attrs, "policy_rule", rule)
		}
		if err != nil {
			res := errorResult(err)
			res.Meta = meta
			var ue *upstream.Error
			var ie inputError
			var pd *policyDenied
			outcome := "error"
			switch {
			case errors.As(err, &pd):
				outcome = "policy_denied"
				res.Meta["policy_rule"] = pd.rule
			case errors.As(err, &ue):
				outcome = ue.Kind.String()
			case errors.As(err, &ie):
				outcome = "invalid_input"
			case errors.Is(err, errBusy):
				outcome = "busy"
			}
			attrs = append(attrs, "outcome", outcome)
			if ue != nil {
				attrs = append(attrs, "upstream_status", ue.Status)
			}
			if d.Observe != nil {
				d.Observe(name, outcome, elapsed)
			}
			d.Audit.LogAttrs(ctx, slog.LevelWarn, "tool call", argsToAttrs(append(attrs, "error", err.Error()))...)
			return res, nil, nil
		}
		attrs = append(attrs, "outcome", "ok")
		if d.Observe != nil {
			d.Observe(name, "ok", elapsed)
		}
		if callsAgent {
			attrs = append(attrs, "upstream_status", http.StatusOK)
		}
		d.Audit.LogAttrs(ctx, slog.LevelInfo, "tool call", argsToAttrs(attrs)...)
		if withMeta, err := withField(raw, "_meta", meta); err == nil {
			raw = withMeta
		}
		return &mcp.CallToolResult{
			Content:           []mcp.Content{&mcp.TextContent{Text: string(raw)}},
			StructuredContent: raw,
			Meta:              meta,
		}, nil, nil
	}
}

// errBusy marks a call that never got an upstream slot (Deps.Acquire).
var errBusy = errors.New("busy")

// acquireAndRun runs fn, first taking an upstream slot when the tool calls
// the agent and a limit is configured.
func acquireAndRun[In any](ctx context.Context, d *Deps, callsAgent bool, in In, fn callFunc[In]) (json.RawMessage, error) {
	if callsAgent && d.Acquire != nil {
		release, err := d.Acquire(ctx, callerFrom(ctx).Subject)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errBusy, err)
		}
		defer release()
	}
	return runSafely(ctx, d, in, fn)
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
