package tools_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUploadIDFormat: the agent joins upload_id to its temp directory raw
// (UPSTREAM.md §7 item 4), so the bridge forwards only the agent's own id
// format — 32 lowercase hex digits — and refuses anything else before any
// request is made.
func TestUploadIDFormat(t *testing.T) {
	e := newEnv(t)
	bad := []string{
		"../../../../etc/cron.d", "x/../../../../var/www", "/etc/cron.d", "..", "x",
		strings.Repeat("f", 31), strings.Repeat("f", 33), strings.ToUpper(strings.Repeat("ab", 16)),
		strings.Repeat("f", 31) + "/", "edit_" + strings.Repeat("0", 27), "ffffffff-ffff-ffff-ffff-ffffffffffff",
		strings.Repeat("0", 32) + "\x00", strings.Repeat("0", 16) + "%2e%2e" + strings.Repeat("0", 10),
	}
	calls := map[string]func(id string) map[string]any{
		"sentinel_upload_chunk": func(id string) map[string]any {
			return map[string]any{"upload_id": id, "index": 0, "chunk_base64": "eA=="}
		},
		"sentinel_upload_complete": func(id string) map[string]any { return map[string]any{"upload_id": id} },
		"sentinel_edit_upload_file": func(id string) map[string]any {
			return map[string]any{"upload_id": id, "role": "new", "content_base64": "eA=="}
		},
		"sentinel_edit_upload_complete": func(id string) map[string]any {
			return map[string]any{"upload_id": id, "path": "/srv/app/x", "mode": "write"}
		},
	}
	n := e.rec.count()
	for tool, args := range calls {
		for _, id := range bad {
			e.fails(t, tool, args(id), "upload_id must be the id sentinel_")
		}
		e.fails(t, tool, args("  "), "upload_id is required")
	}
	if got := e.rec.count(); got != n {
		t.Fatalf("%d requests reached the agent for malformed upload ids", got-n)
	}
	for _, p := range []string{"/etc/cron.d", "/var/www"} {
		if _, err := os.Stat(filepath.Join(e.agent.Dir(), p)); err == nil {
			t.Errorf("%s exists in the agent's sandbox", p)
		}
	}
	// An id of the right shape is forwarded (trimmed) and the agent decides.
	id := strings.Repeat("0", 32)
	e.fails(t, "sentinel_upload_complete", map[string]any{"upload_id": " " + id + " "}, "upload_id not found")
	if rq := e.rec.last(t); rq.Path != "/upload/complete" || rq.JSON["upload_id"] != id {
		t.Errorf("agent got %s %v", rq.Path, rq.JSON)
	}
}
