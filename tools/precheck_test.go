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

// TestNonCanonicalHostPaths: every path-like argument of every tool is
// refused when it has ".", ".." or empty segments or a trailing slash,
// with or without a policy, before anything is sent.
func TestNonCanonicalHostPaths(t *testing.T) {
	e := newEnv(t)
	id := strings.Repeat("0", 32)
	bad := []string{"/var/run/../etc/ssh/sshd_config", "/etc/./ssh/sshd_config", "//etc/ssh/sshd_config", "/etc//ssh",
		"/etc/ssh/", "/srv/app/..", " /tmp/../etc/cron.d ", "../etc"}
	calls := []struct {
		tool, arg string
		args      func(p string) map[string]any
	}{
		{"sentinel_edit", "path", func(p string) map[string]any { return map[string]any{"path": p, "mode": "write", "new_text": "x"} }},
		{"sentinel_edit", "backup_dir", func(p string) map[string]any {
			return map[string]any{"path": "/srv/app/x", "mode": "write", "new_text": "x", "backup_dir": p}
		}},
		{"sentinel_edit_upload_complete", "path", func(p string) map[string]any {
			return map[string]any{"upload_id": id, "path": p, "mode": "write"}
		}},
		{"sentinel_edit_upload_complete", "backup_dir", func(p string) map[string]any {
			return map[string]any{"upload_id": id, "path": "/srv/app/x", "mode": "write", "backup_dir": p}
		}},
		{"sentinel_script_run", "cwd", func(p string) map[string]any {
			return map[string]any{"interpreter": "bash", "content": "pwd", "cwd": p}
		}},
		{"sentinel_upload_file", "target_path", func(p string) map[string]any {
			return map[string]any{"target_path": p, "content_base64": "eA=="}
		}},
		{"sentinel_upload_init", "target_path", func(p string) map[string]any {
			return map[string]any{"target_path": p, "total_size": 1}
		}},
	}
	n := e.rec.count()
	for _, c := range calls {
		for _, p := range bad {
			want := c.arg + ` "`
			if c.arg != "target_path" {
				want = "give the canonical absolute path"
			}
			e.fails(t, c.tool, c.args(p), want)
		}
	}
	e.fails(t, "sentinel_upload_file", map[string]any{"target_path": "www/../../etc/x", "content_base64": "eA=="}, `has a ".." segment`)
	// The agent's pending uploads keep their destination in
	// .sentinelx_uploads/<id>/meta.json: overwriting it redirects the upload
	// anywhere on the host.
	for _, p := range []string{".sentinelx_uploads/" + id + "/meta.json", "/.sentinelx_uploads/x", ".sentinelx_uploads"} {
		e.fails(t, "sentinel_upload_file", map[string]any{"target_path": p, "content_base64": "eA==", "overwrite": true},
			"inside the agent's temporary upload directory")
		e.fails(t, "sentinel_upload_init", map[string]any{"target_path": p, "total_size": 1}, "inside the agent's temporary upload directory")
	}
	if got := e.rec.count(); got != n {
		t.Fatalf("%d calls with non-canonical paths reached the agent", got-n)
	}
	// Canonical paths still go through, trimmed as the policy reads them.
	e.ok(t, "sentinel_edit", map[string]any{"path": "/srv/app/y", "mode": "write", "new_text": "x", "create": true, "backup_dir": " /tmp "})
	if rq := e.rec.last(t); rq.JSON["path"] != "/srv/app/y" || rq.JSON["backup_dir"] != "/tmp" {
		t.Errorf("agent got %v", rq.JSON)
	}
	e.ok(t, "sentinel_script_run", map[string]any{"interpreter": "bash", "content": "pwd", "cwd": "/ "})
	if rq := e.rec.last(t); rq.JSON["cwd"] != "/" {
		t.Errorf("agent got cwd %v", rq.JSON["cwd"])
	}
	e.ok(t, "sentinel_upload_file", map[string]any{"target_path": "/site/a.txt", "content_base64": "eA=="})
	e.ok(t, "sentinel_upload_file", map[string]any{"target_path": "site/.sentinelx_uploads", "content_base64": "eA=="})
}

// TestSymlinkDotDotDodgesNoLonger reproduces the finding: on a systemd
// host /var/run is a symlink to /run, so the kernel opens
// /var/run/../etc/ssh/sshd_config as /etc/ssh/sshd_config, while
// path.Clean — what the rules used to judge — says /var/etc/ssh/…, and
// the no-ssh-edits denial did not apply. The path is now refused before
// the policy is asked, and nothing reaches the agent.
func TestSymlinkDotDotDodgesNoLonger(t *testing.T) {
	e := newAuthzEnv(t, testPolicy, false)
	ops := e.client(t, "tok-ops")
	res := callTool(t, ops, "sentinel_edit", map[string]any{"path": "/var/run/../etc/ssh/sshd_config", "mode": "write",
		"new_text": "PermitRootLogin yes\n", "create": true})
	if !res.IsError || !strings.Contains(text(res), `path "/var/run/../etc/ssh/sshd_config" has a ".." segment: give the canonical absolute path`) {
		t.Fatalf("isError=%v %q", res.IsError, text(res))
	}
	if n := len(e.agentCalls()); n != 0 {
		t.Fatalf("%d calls reached the agent", n)
	}
	l := e.audit.JSONLines(t)
	if len(l) != 1 || l[0]["outcome"] != "invalid_input" || l[0]["policy_rule"] != nil {
		t.Errorf("audit %v", l)
	}
}
