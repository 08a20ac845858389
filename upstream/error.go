package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Kind classifies an [Error] so callers can react (retry, tell the user to
// fix the token, ...) without parsing messages.
type Kind int

// The kinds of failure at the agent boundary.
const (
	// KindHTTP is a non-2xx answer from the agent. Status holds the code and
	// Detail the agent's text (FastAPI "detail" string, a 422 list flattened
	// to one line, or a plain-text body).
	KindHTTP Kind = iota + 1
	// KindRefused is an HTTP 200 answer carrying {"error": "..."}: the agent
	// declined (command not allowed, unknown service). Body keeps the whole
	// object, e.g. "allowed_actions".
	KindRefused
	// KindUnreachable means no HTTP exchange happened: DNS, connect, TLS or
	// a connection reset before a response arrived.
	KindUnreachable
	// KindTimeout means the per-call deadline (Options.Timeout or a
	// method-specific one) expired.
	KindTimeout
	// KindCanceled means the caller's context ended first.
	KindCanceled
	// KindTooLarge means the response body exceeded Options.MaxResponseBytes.
	KindTooLarge
	// KindBadResponse is a 2xx body that is not the JSON object expected.
	KindBadResponse
)

// String names the kind for logs and metrics labels.
func (k Kind) String() string {
	switch k {
	case KindHTTP:
		return "http"
	case KindRefused:
		return "refused"
	case KindUnreachable:
		return "unreachable"
	case KindTimeout:
		return "timeout"
	case KindCanceled:
		return "canceled"
	case KindTooLarge:
		return "too_large"
	case KindBadResponse:
		return "bad_response"
	}
	return "unknown"
}

// Error is the only error type returned by [Client] methods once a request
// has been attempted. Callers match it with errors.As. Every string in it
// has had the agent token replaced by "[redacted]", so it can be shown to a
// model or logged as is.
type Error struct {
	Kind Kind
	// Status is the HTTP status code, 0 when no response was received.
	Status int
	// Detail is the human part of the message: the agent's refusal or
	// "detail" text verbatim, or what went wrong on the wire.
	Detail string
	// Method and Path name the agent call, e.g. "POST" "/exec".
	Method, Path string
	// Body is the response body when it was JSON (soft refusals and
	// FastAPI errors), so nothing the agent said is lost.
	Body json.RawMessage
	// Cause is, for KindUnreachable, the short transport cause without
	// any address ("connection refused"): what a host list or a
	// down-marking shows, where Detail's advice would be noise.
	Cause string
	// Err is the underlying transport or decoding error, if any. It is not
	// scrubbed; log Error() rather than Err.
	Err error
}

// Error renders one line a person can act on:
//
//	sentinelx POST /exec: 403 Forbidden: Invalid token
//	sentinelx POST /exec: refused: Command not allowed: hostname
//	sentinelx GET /state: cannot reach SENTINELX_URL: connection refused; check SENTINELX_URL and that the SentinelX Core agent is running
//
// An error made without a request (a host registry refusing a call to a
// host marked down) has no Method and reads "sentinelx: <detail>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("sentinelx")
	if e.Method != "" || e.Path != "" {
		b.WriteString(" ")
		b.WriteString(e.Method)
		b.WriteString(" ")
		b.WriteString(e.Path)
	}
	b.WriteString(": ")
	switch e.Kind {
	case KindHTTP:
		fmt.Fprintf(&b, "%d %s", e.Status, statusText(e.Status))
		if e.Detail != "" {
			b.WriteString(": ")
			b.WriteString(e.Detail)
		}
	case KindRefused:
		b.WriteString("refused: ")
		b.WriteString(e.Detail)
	default:
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap exposes the cause, so errors.Is(err, context.Canceled) works.
func (e *Error) Unwrap() error { return e.Err }

// Message is Detail alone, without the "sentinelx METHOD path:" prefix; for
// tool results where the tool name already says which call failed.
func (e *Error) Message() string {
	if e.Kind == KindHTTP {
		s := fmt.Sprintf("%d %s", e.Status, statusText(e.Status))
		if e.Detail != "" {
			s += ": " + e.Detail
		}
		return s
	}
	return e.Detail
}

// statusText is http.StatusText with a fallback so unknown codes still read.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "HTTP status"
}

// scrubber removes the agent token from anything that leaves this package:
// agents echo input (e.g. "Command not allowed: <cmd>"), and a command such
// as `cat /proc/<pid>/environ` could surface it.
type scrubber struct {
	token   string
	escaped string // token as it appears inside a JSON string
}

const redacted = "[redacted]"

func newScrubber(token string) scrubber {
	if token == "" {
		return scrubber{}
	}
	esc, _ := json.Marshal(token)
	return scrubber{token: token, escaped: string(esc[1 : len(esc)-1])}
}

func (s scrubber) str(v string) string {
	if s.token == "" {
		return v
	}
	return strings.ReplaceAll(v, s.token, redacted)
}

func (s scrubber) bytes(b []byte) []byte {
	if s.token == "" {
		return b
	}
	if bytes.Contains(b, []byte(s.token)) {
		b = bytes.ReplaceAll(b, []byte(s.token), []byte(redacted))
	}
	if s.escaped != s.token && bytes.Contains(b, []byte(s.escaped)) {
		b = bytes.ReplaceAll(b, []byte(s.escaped), []byte(redacted))
	}
	return b
}

// detailFromBody extracts a readable message from a non-2xx body:
// a FastAPI {"detail": "..."} string verbatim, a 422 list as one line, or
// the text body itself (trimmed and shortened).
func detailFromBody(body []byte) (detail string, isJSON bool) {
	var env struct {
		Detail json.RawMessage `json:"detail"`
		Error  json.RawMessage `json:"error"`
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Unmarshal(trimmed, &env) == nil {
		if d := env.Detail; len(d) > 0 {
			var s string
			if json.Unmarshal(d, &s) == nil {
				return s, true
			}
			var list []validationItem
			if json.Unmarshal(d, &list) == nil {
				return formatValidation(list), true
			}
			return string(d), true
		}
		if e := env.Error; len(e) > 0 {
			var s string
			if json.Unmarshal(e, &s) == nil {
				return s, true
			}
		}
		return shorten(string(trimmed)), true
	}
	return shorten(string(trimmed)), false
}

// validationItem is one entry of a FastAPI/Pydantic 422 "detail" list.
type validationItem struct {
	Type string            `json:"type"`
	Loc  []json.RawMessage `json:"loc"`
	Msg  string            `json:"msg"`
}

// formatValidation turns a 422 list into one line such as
// "path: Field required; mode: Input should be 'replace', ...". The "body"
// prefix FastAPI puts in every loc is dropped because it says nothing to a
// person; model-level rules (loc ["body"]) show only their message, without
// Pydantic's "Value error, " prefix.
func formatValidation(items []validationItem) string {
	parts := make([]string, 0, len(items))
	for _, it := range items {
		var loc []string
		for i, raw := range it.Loc {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				if i == 0 && s == "body" {
					continue
				}
				loc = append(loc, s)
				continue
			}
			loc = append(loc, string(raw))
		}
		msg := strings.TrimPrefix(it.Msg, "Value error, ")
		if len(loc) == 0 {
			parts = append(parts, msg)
			continue
		}
		parts = append(parts, strings.Join(loc, ".")+": "+msg)
	}
	if len(parts) == 0 {
		return "validation failed"
	}
	return strings.Join(parts, "; ")
}

// shorten keeps plain-text bodies (HTML error pages from a proxy, Python
// tracebacks) to one readable line.
func shorten(s string) string {
	// Control characters (NULs in an HTML error page, escape sequences)
	// would corrupt a terminal or a log line; invalid UTF-8 is replaced.
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}
