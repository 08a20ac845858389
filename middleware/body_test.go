package middleware

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
)

// countingReader counts the bytes the server has taken from a body.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// bigCall is a tools/call about n bytes long.
func bigCall(n int) string {
	head := `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"sentinel_edit","arguments":{"content":"`
	return head + strings.Repeat("a", max(n-len(head)-4, 0)) + `"}}}`
}

// TestBodyCapUntilVerified: a body longer than the anonymous cap is read
// past it only once the token is verified. A junk token is refused after
// at most 1 MiB has been read, whatever Content-Length says; a good token
// gets its whole body to the handler, with its messages.
func TestBodyCapUntilVerified(t *testing.T) {
	const max = 16 << 20
	body := bigCall(4 << 20)
	tests := []struct {
		name      string
		auth      []string
		body      string
		verifyErr error
		want      int
		wantRead  int64 // most bytes the server may read; 0 = the whole body
		verifies  bool
		wantInMsg string
	}{
		{name: "junk token, 4 MiB", auth: []string{"Bearer x"}, body: body, verifyErr: errors.New("junk"),
			want: 401, wantRead: anonymousMaxBody + 1, verifies: true},
		{name: "good token, 4 MiB", auth: []string{"Bearer good"}, body: body, want: 200, verifies: true},
		{name: "good token, over the limit", auth: []string{"Bearer good"}, body: bigCall(max + 10), want: 413,
			wantRead: max + 1, verifies: true, wantInMsg: "exceeds 16777216 bytes"},
		{name: "no token, 4 MiB", body: body, want: 413, wantRead: anonymousMaxBody + 1,
			wantInMsg: "the limit without an access token"},
		{name: "blank Authorization, 4 MiB", auth: []string{"  "}, body: body, want: 413, wantRead: anonymousMaxBody + 1,
			wantInMsg: "the limit without an access token"},
		{name: "not a bearer token, 4 MiB", auth: []string{"Basic eDp5"}, body: body, want: 401, wantRead: anonymousMaxBody + 1},
		{name: "two Authorization headers, 4 MiB", auth: []string{"Bearer a", "Bearer b"}, body: body, want: 400,
			wantRead: anonymousMaxBody + 1},
		{name: "junk token, small body", auth: []string{"Bearer x"}, body: bigCall(1000), verifyErr: errors.New("junk"),
			want: 401, verifies: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingReader{r: strings.NewReader(tt.body)}
			var readAtVerify int64 = -1
			verify := func(_ context.Context, tok string, _ *http.Request) (*auth.TokenInfo, error) {
				readAtVerify = src.n.Load()
				if tt.verifyErr != nil {
					return nil, tt.verifyErr
				}
				return &auth.TokenInfo{UserID: "alice", Scopes: []string{"sentinelx:edit"}}, nil
			}
			var got []byte
			var msgs []Message
			final := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, _ = io.ReadAll(r.Body)
				msgs, _ = Messages(r.Context())
				w.WriteHeader(http.StatusOK)
			})
			h := ReadBody(max)(Bearer(BearerOptions{Verify: verify, Challenger: Challenger{ResourceMetadataURL: "http://x/prm"}})(final))
			req := httptest.NewRequest(http.MethodPost, "/mcp", src)
			req.Header.Set("Content-Type", "application/json")
			for _, a := range tt.auth {
				req.Header.Add("Authorization", a)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if tt.verifies != (readAtVerify >= 0) {
				t.Fatalf("verifier called: %v, want %v", readAtVerify >= 0, tt.verifies)
			}
			if readAtVerify > anonymousMaxBody+1 {
				t.Errorf("%d bytes of body read before the token was verified, want at most %d", readAtVerify, anonymousMaxBody+1)
			}
			if tt.wantRead > 0 && src.n.Load() > tt.wantRead {
				t.Errorf("server read %d bytes of the body, want at most %d", src.n.Load(), tt.wantRead)
			}
			if tt.wantInMsg != "" && !strings.Contains(rec.Body.String(), tt.wantInMsg) {
				t.Errorf("body %s, want it to say %q", rec.Body, tt.wantInMsg)
			}
			if tt.want == 413 && rec.Header().Get("Connection") != "close" {
				t.Error("413 without Connection: close; the unread body would be drained")
			}
			if tt.want != 200 {
				return
			}
			if !bytes.Equal(got, []byte(tt.body)) {
				t.Fatalf("handler got %d bytes, want the %d sent", len(got), len(tt.body))
			}
			if len(msgs) != 1 || msgs[0].Tool != "sentinel_edit" {
				t.Fatalf("messages %+v, want the one tools/call", msgs)
			}
		})
	}
}
