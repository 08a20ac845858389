package middleware

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// httptraceWithConn counts the new connections a client opens.
func httptraceWithConn(ctx context.Context, n *int) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) {
			if !i.Reused {
				*n++
			}
		},
	})
}

// dialNonReader connects to addr with a small receive buffer, for a client
// that will read nothing: the server's writes fill the buffers sooner.
func dialNonReader(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
	return conn
}

// TestBoundResponseSlowReader: a client that sends a request and never
// reads the answer must not hold the handler (and what it has in memory)
// forever. The handler streams 64 MiB, far more than the socket buffers
// hold; with the stall bound its write fails and it returns.
func TestBoundResponseSlowReader(t *testing.T) {
	returned := make(chan error, 1)
	h := BoundResponse(ResponseOptions{Stall: 200 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		var err error
		for i := 0; i < 1024 && err == nil; i++ {
			if _, err = w.Write(chunk); err == nil {
				err = http.NewResponseController(w).Flush()
			}
		}
		returned <- err
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	conn := dialNonReader(t, srv.Listener.Addr().String())
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-returned:
		if err == nil {
			t.Fatal("64 MiB were written to a client that reads nothing")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the handler is still blocked writing to a client that does not read")
	}
}

func TestBoundResponseSize(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string
		body       string
		writes     []int
		wantStatus int
		wantErr    bool
	}{
		{"under the cap", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []int{500, 500}, 200, false},
		{"first write over the cap: a JSON-RPC error instead", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []int{1500}, 500, true},
		{"cut off once started", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, []int{800, 800}, 200, true},
		{"listen streams are not counted", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"subscriptions/listen"}`, []int{800, 800}, 200, false},
		{"GET streams are not counted", http.MethodGet, "", []int{800, 800}, 200, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lastErr error
			h := ReadBody(1 << 20)(BoundResponse(ResponseOptions{MaxBytes: 1024})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				for _, n := range tc.writes {
					if _, err := w.Write(bytes.Repeat([]byte("a"), n)); err != nil {
						lastErr = err
					}
				}
			})))
			req := httptest.NewRequest(tc.method, "/mcp", strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body.String())
			}
			if got := lastErr != nil; got != tc.wantErr {
				t.Errorf("write error %v, want error: %v", lastErr, tc.wantErr)
			}
			if tc.wantStatus == 500 && !strings.Contains(rec.Body.String(), "MCP_MAX_RESPONSE_BYTES") {
				t.Errorf("error body %q does not name MCP_MAX_RESPONSE_BYTES", rec.Body.String())
			}
			if lastErr != nil && !errors.Is(lastErr, errResponseTooLarge) {
				t.Errorf("write error %v, want errResponseTooLarge", lastErr)
			}
		})
	}
}

// TestBoundResponseOneWriteAnswer: go-sdk flushes after every SSE event.
// An answer whose handler returns right after its one event must leave as
// one response with a Content-Length (one write(2)), body unchanged. (The
// flush delay is an hour here, so a slow machine cannot make it fire.)
func TestBoundResponseOneWriteAnswer(t *testing.T) {
	const event = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
	h := BoundResponse(ResponseOptions{flushDelay: time.Hour})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, event)
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i := 0; i < 20; i++ {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != event {
			t.Fatalf("body %q, want %q", body, event)
		}
		if resp.ContentLength != int64(len(event)) || len(resp.TransferEncoding) != 0 {
			t.Fatalf("Content-Length %d, Transfer-Encoding %v: the answer was flushed before the handler returned", resp.ContentLength, resp.TransferEncoding)
		}
	}
}

// TestBoundResponseStreamStillStreams: an event the handler follows with
// more work (a notification, a GET or listen stream) must reach the client
// while the handler is still running. The handler waits for the client to
// have read the first event; without the deferred flush it would wait
// forever (the test's bound).
func TestBoundResponseStreamStillStreams(t *testing.T) {
	seen := make(chan struct{})
	h := BoundResponse(ResponseOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		for i := range 3 {
			io.WriteString(w, "data: "+strings.Repeat("n", i+1)+"\n\n")
			_ = http.NewResponseController(w).Flush()
			select {
			case <-seen:
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Second):
				t.Error("the client never saw a flushed event while the handler ran")
				return
			}
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	for i := range 3 {
		want := "data: " + strings.Repeat("n", i+1) + "\n\n"
		if _, err := io.ReadFull(resp.Body, buf[:len(want)]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if got := string(buf[:len(want)]); got != want {
			t.Fatalf("event %d: %q, want %q", i, got, want)
		}
		seen <- struct{}{}
	}
}

// TestBoundResponseNoFlushAfterReturn: a flush deferred by a handler that
// then returns must never touch the ResponseWriter afterwards (it belongs
// to net/http again). Run with -race; many short streams make the timer
// and the return race.
func TestBoundResponseNoFlushAfterReturn(t *testing.T) {
	h := BoundResponse(ResponseOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: x\n\n")
		_ = http.NewResponseController(w).Flush()
		if r.URL.Query().Has("wait") {
			time.Sleep(flushDelay) // let the timer fire, or nearly
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for i := 0; i < 200; i++ {
		u := srv.URL
		if i%2 == 1 {
			u += "?wait"
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "data: x\n\n" {
			t.Fatalf("round %d: body %q", i, body)
		}
	}
}

// TestBoundResponseFinalWriteIsBounded: with flushes deferred, net/http
// writes a short answer after the handler has returned. A client that
// pipelines requests and reads nothing fills the socket buffers; that last
// write must fail after Stall like any other, and the connection close,
// instead of parking its goroutine for good.
func TestBoundResponseFinalWriteIsBounded(t *testing.T) {
	answer := "data: " + strings.Repeat("a", 1500) + "\n\n"
	h := BoundResponse(ResponseOptions{Stall: 200 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, answer)
		_ = http.NewResponseController(w).Flush()
	}))
	closed := make(chan struct{})
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			close(closed)
		}
	}
	srv.Start()
	defer srv.Close()
	conn := dialNonReader(t, srv.Listener.Addr().String())
	// Far more answers than the socket buffers hold, sent without reading.
	go func() {
		req := "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
		for i := 0; i < 20000; i++ {
			if _, err := io.WriteString(conn, req); err != nil {
				return
			}
		}
	}()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the server is still blocked writing answers to a client that reads none")
	}
}

// TestLeftDeadlineDoesNotReachNextRequest: the deadline BoundResponse
// leaves for net/http's last write must not reach the next request on the
// same connection, even one that arrives long after it expired (net/http
// clears it once an answer is finished; this keeps that true).
func TestLeftDeadlineDoesNotReachNextRequest(t *testing.T) {
	const stall = 50 * time.Millisecond
	mux := http.NewServeMux()
	mux.Handle("/mcp", BoundResponse(ResponseOptions{Stall: stall})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "data: x\n\n")
		_ = http.NewResponseController(w).Flush()
	})))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	var conns int
	trace := func(r *http.Request) *http.Request {
		return r.WithContext(httptraceWithConn(r.Context(), &conns))
	}
	get := func(path string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := client.Do(trace(req))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return string(b)
	}
	if got := get("/mcp"); got != "data: x\n\n" {
		t.Fatalf("/mcp: %q", got)
	}
	time.Sleep(4 * stall) // the deadline /mcp left is now in the past
	if got := get("/healthz"); got != "ok" {
		t.Fatalf("/healthz on the kept-alive connection: %q", got)
	}
	if conns != 1 {
		t.Fatalf("%d connections, want the second request on the first one's", conns)
	}
}
