package middleware

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
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

	flushDelay time.Duration // tests; 0 means flushDelay
}

// codeInternalError is JSON-RPC's "Internal error".
const codeInternalError = -32603

// errResponseTooLarge is returned by writes past ResponseOptions.MaxBytes.
var errResponseTooLarge = errors.New("response exceeds MCP_MAX_RESPONSE_BYTES")

// flushDelay is how long a flushed SSE event may wait in the response
// buffer for the handler to finish. go-sdk flushes after every event; for
// the usual POST (one event, the answer, then the handler returns) that
// flush costs a write(2) and turns the answer into a chunked one whose end
// takes a second write(2). Deferred, an answer that fits net/http's
// buffer (2 KiB) leaves in one write with a Content-Length when the
// handler returns; a larger one is written as the buffer fills, as before.
// An event followed by more work (a notification, a GET or listen stream)
// still leaves within flushDelay.
const flushDelay = 2 * time.Millisecond

// BoundResponse bounds what answering one /mcp request can cost. Without
// it, an SSE answer to a client that never reads parks every pending
// message (and its goroutine) in memory for as long as the client keeps the
// connection open, and a batch answer has no size limit. Over MaxBytes,
// an answer not yet started becomes one JSON-RPC error (500); a started
// one is cut off. It also coalesces flushes (see flushDelay).
//
// The write deadline is left armed when the handler returns, so that
// net/http's last write of the answer is bounded too; net/http clears it
// once the answer is finished, before the connection's next request.
func BoundResponse(opts ResponseOptions) func(http.Handler) http.Handler {
	stall := opts.Stall
	if stall <= 0 {
		stall = 30 * time.Second
	}
	delay := opts.flushDelay
	if delay <= 0 {
		delay = flushDelay
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bw := &boundedWriter{ResponseWriter: w, rc: http.NewResponseController(w), stall: stall, delay: delay}
			if r.Method == http.MethodPost && !IsListen(r) {
				bw.limit = opts.MaxBytes
			}
			defer bw.finish()
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

// boundedWriter counts the bytes of one response, gives every write that
// may reach the socket a deadline and defers flushes by up to flushDelay.
// go-sdk writes from one goroutine at a time (under its stream lock); mu
// orders those writes with the flush timer's goroutine. Header needs no
// lock: a deferred flush only follows a Write, and net/http copies the
// header map when the first Write (or WriteHeader) commits it, so the
// timer's flush never reads the map go-sdk may still change.
type boundedWriter struct {
	http.ResponseWriter
	rc    *http.ResponseController
	stall time.Duration
	delay time.Duration // flushDelay
	limit int64         // 0: none

	mu          sync.Mutex
	written     int64
	wroteHeader bool
	over        bool
	refreshAt   time.Time   // the write deadline is renewed after this
	pending     bool        // a flush was asked for and has not happened
	timer       *time.Timer // runs timedFlush; nil until the first flush
	done        bool        // the handler returned: w is net/http's again
}

func (b *boundedWriter) WriteHeader(code int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.wroteHeader = true
	b.ResponseWriter.WriteHeader(code)
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
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
	b.armDeadline()
	n, err := b.ResponseWriter.Write(p)
	b.written += int64(n)
	return n, err
}

// armDeadline makes sure the connection's write deadline is at least
// three quarters of stall away. Renewing it on every write cost two
// timer updates per write; renewing it every quarter of stall bounds a
// stalled write between 0.75×stall and stall, which is what Stall is for.
// Called with mu held.
func (b *boundedWriter) armDeadline() {
	now := time.Now()
	if now.Before(b.refreshAt) {
		return
	}
	_ = b.rc.SetWriteDeadline(now.Add(b.stall))
	b.refreshAt = now.Add(b.stall / 4)
}

// FlushError is what http.ResponseController.Flush calls (go-sdk flushes
// after every SSE event). The flush happens when the handler returns or
// flushDelay later, whichever is first.
func (b *boundedWriter) FlushError() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || b.pending {
		return nil
	}
	b.pending = true
	if b.timer == nil {
		b.timer = time.AfterFunc(b.delay, b.timedFlush)
	} else {
		b.timer.Reset(b.delay)
	}
	return nil
}

// timedFlush is the deferred flush of an event the handler did not follow
// by returning. A full socket blocks here, under the write deadline.
func (b *boundedWriter) timedFlush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done || !b.pending {
		return
	}
	b.pending = false
	b.armDeadline()
	_ = b.rc.Flush()
}

// finish hands the response back to net/http, which writes what is still
// buffered (with a Content-Length when the whole answer is there). That
// write happens after the handler returns, so the deadline stays armed for
// it; net/http clears it after that write (conn.serve).
func (b *boundedWriter) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.armDeadline()
}

// Flush is for callers that use the http.Flusher interface.
func (b *boundedWriter) Flush() { _ = b.FlushError() }

// Unwrap lets http.ResponseController reach the connection.
func (b *boundedWriter) Unwrap() http.ResponseWriter { return b.ResponseWriter }
