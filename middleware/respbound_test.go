package middleware

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

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
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetReadBuffer(4096)
	}
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
// one response with a Content-Length (one write(2)), body unchanged.
func TestBoundResponseOneWriteAnswer(t *testing.T) {
	const event = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n"
	h := BoundResponse(ResponseOptions{})(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
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
