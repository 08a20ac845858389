package middleware

import (
	"errors"
	"net/http"
	"strconv"
	"time"
)

// ResponseOptions configures [BoundResponse].
type ResponseOptions struct {
	// MaxBytes is MCP_MAX_RESPONSE_BYTES: the most one POST answer may
	// carry (all messages of a batch together, SSE framing included).
	// subscriptions/listen and GET streams are not counted: they are long
	// lived and capped by [StreamLimit] instead. 0 means no limit.
	MaxBytes int64
	// Stall bounds one write to the client, flush included: a client that
	// stops reading for this long loses the response (the connection is
	// closed). 0 means 30 s.
	Stall time.Duration
}

// codeInternalError is JSON-RPC's "Internal error".
const codeInternalError = -32603

// errResponseTooLarge is returned by writes past ResponseOptions.MaxBytes.
var errResponseTooLarge = errors.New("response exceeds MCP_MAX_RESPONSE_BYTES")

// BoundResponse bounds what answering one /mcp request can cost. Without
// it, an SSE answer to a client that never reads parks every pending
// message (and its goroutine) in memory for as long as the client keeps the
// connection open, and a batch answer has no size limit. Over MaxBytes,
// an answer not yet started becomes one JSON-RPC error (500); a started
// one is cut off.
func BoundResponse(opts ResponseOptions) func(http.Handler) http.Handler {
	stall := opts.Stall
	if stall <= 0 {
		stall = 30 * time.Second
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bw := &boundedWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall}
			if r.Method == http.MethodPost && !IsListen(r) {
				bw.limit = opts.MaxBytes
			}
			next.ServeHTTP(bw, r)
		})
	}
}

// IsListen reports a POST that opens a 2026-07-28 subscriptions/listen
// stream (read from the messages [ReadBody] recorded).
func IsListen(r *http.Request) bool {
	msgs, _ := Messages(r.Context())
	for _, m := range msgs {
		if m.Method == "subscriptions/listen" {
			return true
		}
	}
	return false
}

// boundedWriter counts the bytes of one response and gives every write and
// flush a deadline. go-sdk writes a response from one goroutine at a time
// (under its stream lock), so it needs no lock of its own.
type boundedWriter struct {
	http.ResponseWriter
	rc          *http.ResponseController
	stall       time.Duration
	limit       int64 // 0: none
	written     int64
	wroteHeader bool
	over        bool
}

func (b *boundedWriter) WriteHeader(code int) {
	b.wroteHeader = true
	b.ResponseWriter.WriteHeader(code)
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if b.over {
		return 0, errResponseTooLarge
	}
	if b.limit > 0 && b.written+int64(len(p)) > b.limit {
		b.over = true
		if !b.wroteHeader {
			b.wroteHeader = true
			WriteRPCError(b.ResponseWriter, http.StatusInternalServerError, nil, codeInternalError,
				"Response exceeds "+strconv.FormatInt(b.limit, 10)+" bytes (MCP_MAX_RESPONSE_BYTES); send fewer messages per request or ask for less output")
		}
		return 0, errResponseTooLarge
	}
	b.wroteHeader = true
	_ = b.rc.SetWriteDeadline(time.Now().Add(b.stall))
	n, err := b.ResponseWriter.Write(p)
	_ = b.rc.SetWriteDeadline(time.Time{})
	b.written += int64(n)
	return n, err
}

// FlushError is what http.ResponseController.Flush calls (go-sdk flushes
// after every SSE event); the flush is where a full socket blocks.
func (b *boundedWriter) FlushError() error {
	_ = b.rc.SetWriteDeadline(time.Now().Add(b.stall))
	err := b.rc.Flush()
	_ = b.rc.SetWriteDeadline(time.Time{})
	return err
}

// Flush is for callers that use the http.Flusher interface.
func (b *boundedWriter) Flush() { _ = b.FlushError() }

// Unwrap lets http.ResponseController reach the connection.
func (b *boundedWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }
