package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBase64PanicCrashesServer: content_base64 "001=" (valid for lax
// base64, refused by every strict decoder) makes decodeBase64 call
// Error() on a nil error (tools/fetch.go:52). The panic happens in
// go-sdk's session goroutine, which does not recover, so the whole
// process exits: any token holder with sentinelx:upload or sentinelx:edit
// can stop the bridge with a 4-byte argument. Found by FuzzDecodeBase64.
// Fixed: strict errors are returned, and tool handlers recover panics.
func TestBase64PanicCrashesServer(t *testing.T) {
	ts := startServerWith(t, setup{env: hostileEnv()})
	tok := ts.mint(map[string]any{"scope": "sentinelx:upload sentinelx:edit"})
	for _, c := range []struct {
		tool string
		args map[string]any
	}{
		{"sentinel_upload_file", map[string]any{"target_path": "x.bin", "content_base64": "001="}},
		{"sentinel_upload_chunk", map[string]any{"upload_id": strings.Repeat("f", 32), "index": 0, "chunk_base64": "001="}},
	} {
		r := ts.callTool(t, tok, c.tool, c.args, 10*time.Second)
		if !r.IsError {
			t.Errorf("%s: %q accepted", c.tool, "001=")
		}
	}
	if r := ts.post(callPing, rpcOpts{}); r.StatusCode != http.StatusOK {
		t.Errorf("ping after: %d", r.StatusCode)
	}
}
