package middleware

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPeek(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		wantCode int
		want     []Message
	}{
		{"single call", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state"}}`, 0,
			[]Message{{ID: json.RawMessage("1"), Method: "tools/call", Tool: "sentinel_state"}}},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, 0,
			[]Message{{Method: "notifications/initialized"}}},
		{"null id is no id", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, 0, []Message{{Method: "ping"}}},
		{"batch", `[{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"ping"}},{"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"sentinel_exec"}}]`, 0,
			[]Message{{ID: json.RawMessage(`"a"`), Method: "tools/call", Tool: "ping"}, {ID: json.RawMessage(`"b"`), Method: "tools/call", Tool: "sentinel_exec"}}},
		// go-sdk decodes with exact key matching; so must the gate, or a
		// case-variant key could smuggle a tool name past it.
		{"case variant key ignored like go-sdk", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"Name":"ping","name":"sentinel_exec"}}`, 0,
			[]Message{{ID: json.RawMessage("1"), Method: "tools/call", Tool: "sentinel_exec"}}},
		{"empty", ``, CodeParseError, nil},
		{"not json", `{"jsonrpc":`, CodeParseError, nil},
		{"invalid utf8", "{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}", CodeParseError, nil},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), CodeParseError, nil},
		{"empty batch", `[]`, CodeInvalidRequest, nil},
		{"method not string", `{"jsonrpc":"2.0","id":1,"method":5}`, CodeInvalidRequest, nil},
		{"tools/call without params", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, CodeInvalidRequest, nil},
		{"tools/call name not string", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":7}}`, CodeInvalidRequest, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, code, msg := peek([]byte(tt.body))
			if code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", code, msg, tt.wantCode)
			}
			if code != 0 {
				if msg == "" {
					t.Error("an error needs a message saying what was wrong")
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d messages, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if string(got[i].ID) != string(tt.want[i].ID) || got[i].Method != tt.want[i].Method || got[i].Tool != tt.want[i].Tool {
					t.Errorf("message %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadBodyLimits(t *testing.T) {
	var reached bool
	var seen []byte
	h := ReadBody(64)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		seen, _ = io.ReadAll(r.Body)
	}))
	t.Run("over limit", func(t *testing.T) {
		reached = false
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"`+strings.Repeat("x", 100)+`"}}`))
		req.Header.Set("Content-Type", "application/json")
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusRequestEntityTooLarge || reached {
			t.Fatalf("status %d reached=%v, want 413 and not reached", rec.Code, reached)
		}
		var body struct{ Error struct{ Code int } }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != CodeInvalidRequest {
			t.Errorf("body %q is not a JSON-RPC error", rec.Body)
		}
	})
	t.Run("body handed on unchanged", func(t *testing.T) {
		in := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(in))
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if !bytes.Equal(seen, []byte(in)) {
			t.Errorf("next saw %q, want %q", seen, in)
		}
	})
	t.Run("non-JSON content type passes untouched", func(t *testing.T) {
		reached = false
		req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader("not json"))
		req.Header.Set("Content-Type", "text/plain")
		h.ServeHTTP(httptest.NewRecorder(), req)
		if !reached {
			t.Error("go-sdk should answer a wrong Content-Type itself (415)")
		}
	})
}

func FuzzPeek(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"sentinel_state"}}`))
	f.Add([]byte(`[{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"a"}},{"method":"ping"}]`))
	f.Add([]byte(`{"id":1e999,"method":"tools/call","method":"ping","params":{"name":"x","name":"y"}}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, code, msg := peek(data)
		if code == 0 && len(msgs) == 0 {
			t.Fatalf("accepted %q with no messages", data)
		}
		if code != 0 && msg == "" {
			t.Fatalf("rejected %q without a message", data)
		}
	})
}

func TestReadBodyAnonymousCap(t *testing.T) {
	h := ReadBody(4 << 20)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	body := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	for _, tt := range []struct {
		name  string
		auth  string
		want  int
		match string
	}{
		{"anonymous over 1 MiB", "", http.StatusRequestEntityTooLarge, "without an access token"},
		{"with a token, under the limit", "Bearer x", http.StatusOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.match) {
				t.Errorf("status %d body %.120s, want %d with %q", rec.Code, rec.Body, tt.want, tt.match)
			}
		})
	}
}

func TestRawQueryHasToken(t *testing.T) {
	for raw, want := range map[string]bool{
		"access_token=abc": true, "x=1;access_token=abc": true, "access_token=%zz": true,
		"ACCESS_TOKEN=a": true, "token=a&b=c": true, "a%63cess_token=x": true,
		"": false, "x=1": false, "tokens=1": false, "my_access_token=1": false,
	} {
		if got := rawQueryHasToken(raw); got != want {
			t.Errorf("rawQueryHasToken(%q) = %v, want %v", raw, got, want)
		}
	}
}
