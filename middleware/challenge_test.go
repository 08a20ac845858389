package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChallenges(t *testing.T) {
	ch := Challenger{ResourceMetadataURL: "https://sx.example.com/.well-known/oauth-protected-resource/mcp"}
	tests := []struct {
		name       string
		write      func(w http.ResponseWriter)
		status     int
		header     string
		rpcMessage string
	}{
		{"missing", func(w http.ResponseWriter) { ch.Missing(w, json.RawMessage(`"7"`), []string{"sentinelx:exec"}) },
			401, `Bearer resource_metadata="https://sx.example.com/.well-known/oauth-protected-resource/mcp", scope="sentinelx:exec"`,
			"Missing Authorization header"},
		{"missing, no scope", func(w http.ResponseWriter) { ch.Missing(w, nil, nil) },
			401, `Bearer resource_metadata="https://sx.example.com/.well-known/oauth-protected-resource/mcp"`,
			"Missing Authorization header"},
		{"invalid", func(w http.ResponseWriter) { ch.InvalidToken(w, json.RawMessage(`"7"`)) },
			401, `Bearer error="invalid_token", error_description="The access token is invalid or expired", resource_metadata="https://sx.example.com/.well-known/oauth-protected-resource/mcp"`,
			"Invalid access token"},
		{"insufficient", func(w http.ResponseWriter) {
			ch.InsufficientScope(w, json.RawMessage(`"7"`), []string{"sentinelx:state", "sentinelx:exec"}, []string{"sentinelx:exec"})
		},
			403, `Bearer error="insufficient_scope", scope="sentinelx:state sentinelx:exec", resource_metadata="https://sx.example.com/.well-known/oauth-protected-resource/mcp"`,
			"Missing required scope: sentinelx:exec"},
		{"invalid request", func(w http.ResponseWriter) {
			ch.InvalidRequest(w, json.RawMessage(`"7"`), "More than one Authorization header")
		},
			400, `Bearer error="invalid_request", error_description="More than one Authorization header", resource_metadata="https://sx.example.com/.well-known/oauth-protected-resource/mcp"`,
			"More than one Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.write(rec)
			if rec.Code != tt.status {
				t.Errorf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.header {
				t.Errorf("WWW-Authenticate =\n  %s\nwant\n  %s", got, tt.header)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Error   struct {
					Code    int    `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if body.JSONRPC != "2.0" || body.Error.Message != tt.rpcMessage || body.Error.Code == 0 {
				t.Errorf("body = %s", rec.Body)
			}
		})
	}
}

func TestBearerToken(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer a b", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := bearerToken(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// The 403's scope by protocol revision: up to 2025-11-25 the token's known
// scopes plus what the call needs (clients replace their scope with it);
// from 2026-07-28 only what the call needs.
func TestStepUpScope(t *testing.T) {
	ch := Challenger{KnownScopes: []string{"sentinelx:state", "sentinelx:capabilities", "sentinelx:exec", "sentinelx:edit"}}
	granted := []string{"openid", "sentinelx:edit", "other:api", "sentinelx:state"}
	needed := []string{"sentinelx:exec"}
	tests := []struct {
		version string
		want    string
	}{
		{"", "sentinelx:state sentinelx:exec sentinelx:edit"},
		{"2025-03-26", "sentinelx:state sentinelx:exec sentinelx:edit"},
		{"2025-06-18", "sentinelx:state sentinelx:exec sentinelx:edit"},
		{"2025-11-25", "sentinelx:state sentinelx:exec sentinelx:edit"},
		{"2026-07-28", "sentinelx:exec"},
		{"2027-01-01", "sentinelx:exec"},
	}
	for _, tt := range tests {
		if got := strings.Join(ch.StepUpScope(tt.version, granted, needed), " "); got != tt.want {
			t.Errorf("version %q: scope %q, want %q", tt.version, got, tt.want)
		}
	}
	// A needed scope outside the known list is still named.
	if got := strings.Join(ch.StepUpScope("2025-11-25", nil, []string{"x:y"}), " "); got != "x:y" {
		t.Errorf("unknown needed scope: %q", got)
	}
}
