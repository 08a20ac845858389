package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	sjson "github.com/segmentio/encoding/json"

	"github.com/pensados/sentinelx-mcp/internal/jsondepth"
)

// JSON-RPC error codes used in HTTP error bodies. Clients on the 2026-07-28
// revision validate every JSON body on /mcp as JSON-RPC, so even a 401 is
// written as an error object.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeUnauthorized   = -32001
	CodeForbidden      = -32003
	CodeRateLimited    = -32029
)

// anonymousMaxBody caps requests that carry no Authorization header:
// initialize, tools/list, ping and friends are a few hundred bytes.
const anonymousMaxBody = 1 << 20

// bodyReadTimeout bounds reading one request body (16 MiB at ~300 KB/s).
const bodyReadTimeout = 60 * time.Second

// maxNesting bounds JSON depth before any decoder sees the body. Tool
// arguments here are flat; go-sdk itself stops at 1000.
const maxNesting = 64

// Message is what the gates need from one JSON-RPC message.
type Message struct {
	ID     json.RawMessage // nil for notifications and responses
	Method string          // "" for responses
	Tool   string          // params.name of a tools/call
}

// parsed is what the gates know about a request's body, carried in its
// context as one typed value: the messages [ReadBody] found, and the
// protected calls among them, resolved against the tool table once by the
// first gate that needs them ([Scopes]) and read by the next ([RateLimit]),
// so the two cannot disagree on what counts. The gates run one after the
// other on the request's goroutine; nothing else writes it.
type parsed struct {
	msgs     []Message
	calls    protected
	resolved bool // calls is set
}

type messagesKey struct{}

// Messages returns the JSON-RPC messages [ReadBody] found in the request.
// ok is false when the body was not read (GET, DELETE, non-JSON POST).
func Messages(ctx context.Context) (msgs []Message, ok bool) {
	p, ok := ctx.Value(messagesKey{}).(*parsed)
	if !ok {
		return nil, false
	}
	return p.msgs, true
}

// ReadBody reads a POSTed JSON body once, bounded by max bytes, rejects what
// no JSON-RPC peer could mean (oversize, invalid UTF-8, malformed or absurdly
// nested JSON) and records each message's id, method and tool name for the
// bearer and scope gates. The body is handed on unchanged.
//
// Until a token has been verified only the anonymous cap is read: no
// anonymous method needs a large body, and a junk Authorization header must
// not buy a client max bytes of the server's memory. A body that goes on
// past the cap with credentials is left half read; [Bearer] verifies the
// token first and only then reads the rest (see body.go).
//
// Decoding uses the same decoder and options as go-sdk (segmentio, exact
// key matching), so the gate and the SDK never disagree on which method or
// tool a message names, whatever duplicate or case-variant keys it carries.
func ReadBody(max int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || !isJSON(r.Header.Get("Content-Type")) {
				next.ServeHTTP(w, r)
				return
			}
			p := &pendingBody{max: max, deadline: time.Now().Add(bodyReadTimeout)}
			limit := min(max, anonymousMaxBody)
			more, err := p.read(w, r, limit)
			switch {
			case err != nil:
				WriteRPCError(w, http.StatusBadRequest, nil, CodeParseError, "Could not read request body")
			case more && limit < max && hasCredentials(r):
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), pendingBodyKey{}, p)))
			case more:
				tooLarge(w, limit, limit < max)
			default:
				if r := withMessages(w, r, p.body); r != nil {
					next.ServeHTTP(w, r)
				}
			}
		})
	}
}

// withMessages checks a whole body and returns the request carrying it and
// its messages, or answers 400 and returns nil.
func withMessages(w http.ResponseWriter, r *http.Request, body []byte) *http.Request {
	msgs, code, msg := peek(body)
	if code != 0 {
		WriteRPCError(w, http.StatusBadRequest, nil, code, msg)
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	return r.WithContext(context.WithValue(r.Context(), messagesKey{}, &parsed{msgs: msgs}))
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

type wireMessage struct {
	ID     json.RawMessage `json:"id"`
	Method json.RawMessage `json:"method"`
	Params json.RawMessage `json:"params"`
}

type toolParams struct {
	Name string `json:"name"`
}

// peek parses body into messages, or returns a JSON-RPC error code and a
// message saying what is wrong.
func peek(body []byte) ([]Message, int, string) {
	if !utf8.Valid(body) {
		return nil, CodeParseError, "Parse error: body is not valid UTF-8"
	}
	if jsondepth.Exceeds(body, maxNesting) {
		return nil, CodeParseError, "Parse error: JSON nested deeper than " + strconv.Itoa(maxNesting) + " levels"
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return nil, CodeParseError, "Parse error: empty body"
	}
	var raws []json.RawMessage
	if trimmed[0] == '[' {
		if err := unmarshal(body, &raws); err != nil {
			return nil, CodeParseError, "Parse error: " + err.Error()
		}
		if len(raws) == 0 {
			return nil, CodeInvalidRequest, "Invalid Request: empty batch"
		}
	} else {
		raws = []json.RawMessage{body}
	}
	msgs := make([]Message, 0, len(raws))
	for _, raw := range raws {
		var wm wireMessage
		if err := unmarshal(raw, &wm); err != nil {
			return nil, CodeParseError, "Parse error: " + err.Error()
		}
		m := Message{}
		if len(wm.ID) > 0 && !bytes.Equal(wm.ID, []byte("null")) {
			m.ID = wm.ID
		}
		if len(wm.Method) > 0 {
			if err := unmarshal(wm.Method, &m.Method); err != nil {
				return nil, CodeInvalidRequest, "Invalid Request: method must be a string"
			}
		}
		if m.Method == "tools/call" {
			var p toolParams
			if len(wm.Params) == 0 || unmarshal(wm.Params, &p) != nil {
				return nil, CodeInvalidRequest, "Invalid Request: tools/call params must be an object with a string name"
			}
			m.Tool = p.Name
		}
		msgs = append(msgs, m)
	}
	return msgs, 0, ""
}

// unmarshal decodes the first JSON value in data into v exactly as go-sdk's
// Decoder.Decode does (segmentio, exact key matching, anything after the
// first value ignored) — the same two steps, parse one raw value, then
// decode it — but straight from data: a Decoder reads through a fresh
// 32 KiB buffer on every call, which made this peek cost more garbage per
// request than everything else in the bridge.
func unmarshal(data []byte, v any) error {
	var raw sjson.RawMessage
	if _, err := sjson.Parse(data, &raw, parseFlags); err != nil {
		return err
	}
	_, err := sjson.Parse(raw, v, parseFlags)
	return err
}

const parseFlags = sjson.DontMatchCaseInsensitiveStructFields

// WriteRPCError writes a JSON-RPC error object as the whole HTTP response.
// id is the failing request's id, or nil (written as null) when unknown.
func WriteRPCError(w http.ResponseWriter, status int, id json.RawMessage, code int, message string) {
	type rpcError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	type response struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   rpcError        `json:"error"`
	}
	if id == nil {
		id = json.RawMessage("null")
	}
	b, _ := json.Marshal(response{"2.0", id, rpcError{code, message}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
