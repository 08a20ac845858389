package tools_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/pensados/sentinelx-mcp/tools"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// recorded is one request as it reached the agent.
type recorded struct {
	Method, Path string
	Header       http.Header
	JSON         map[string]any    // JSON bodies
	Form         map[string]string // multipart text fields
	File         []byte            // multipart file part
}

// recorder is a reverse proxy in front of the agent that keeps every
// request, so tests can check the exact field mapping.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
}

func (rc *recorder) last(t *testing.T) recorded {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) == 0 {
		t.Fatal("no request reached the agent")
	}
	return rc.reqs[len(rc.reqs)-1]
}

func (rc *recorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

type env struct {
	cs    *mcp.ClientSession
	agent *sandbox.Server
	rec   *recorder
	dir   string // EDIT_UPLOAD_LOCAL_DIR
}

func newEnv(t *testing.T) *env {
	t.Helper()
	agent := sandbox.Start(t, sandbox.Options{Token: "agent-secret"})
	target, _ := url.Parse(agent.URL)
	rc := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		rq := recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		switch ct {
		case "application/json":
			json.Unmarshal(body, &rq.JSON)
		case "multipart/form-data":
			rq.Form = map[string]string{}
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				if p.FileName() != "" {
					rq.File = b
					rq.Form["filename:"+p.FormName()] = p.FileName()
				} else {
					rq.Form[p.FormName()] = string(b)
				}
			}
		}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, rq)
		rc.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	up, err := upstream.New(upstream.Options{BaseURL: front.URL, Token: "agent-secret"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	table := tools.New(tools.Deps{Upstream: up, Version: "test", EditUploadLocalDir: dir})
	srv := mcp.NewServer(&mcp.Implementation{Name: "sentinelx-mcp", Version: "test"}, nil)
	table.Register(srv)
	return &env{cs: tools.ConnectInMemory(t, srv), agent: agent, rec: rc, dir: dir}
}

// call runs a tool and decodes its JSON text; it fails the test on a
// protocol error.
func (e *env) call(t *testing.T, name string, args map[string]any) (map[string]any, *mcp.CallToolResult) {
	t.Helper()
	res, err := e.cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: protocol error %v (failures must be isError results)", name, err)
	}
	var out map[string]any
	if !res.IsError {
		if err := json.Unmarshal([]byte(text(res)), &out); err != nil {
			t.Fatalf("%s: text is not JSON: %q", name, text(res))
		}
	}
	return out, res
}

func (e *env) ok(t *testing.T, name string, args map[string]any) map[string]any {
	t.Helper()
	out, res := e.call(t, name, args)
	if res.IsError {
		t.Fatalf("%s(%v) failed: %s", name, args, text(res))
	}
	return out
}

func (e *env) fails(t *testing.T, name string, args map[string]any, want string) {
	t.Helper()
	_, res := e.call(t, name, args)
	if !res.IsError || !strings.Contains(text(res), want) {
		t.Fatalf("%s(%v): isError=%v text=%q, want isError containing %q", name, args, res.IsError, text(res), want)
	}
}

func TestExecServiceRestart(t *testing.T) {
	e := newEnv(t)
	out := e.ok(t, "sentinel_exec", map[string]any{"cmd": "  uptime "})
	if rq := e.rec.last(t); rq.Path != "/exec" || rq.JSON["cmd"] != "uptime" || rq.Header.Get("Authorization") != "Bearer agent-secret" {
		t.Errorf("agent got %s %v auth=%q, want POST /exec {cmd: uptime} (trimmed)", rq.Path, rq.JSON, rq.Header.Get("Authorization"))
	}
	if _, ok := out["returncode"]; !ok {
		t.Errorf("exec result %v lacks returncode", out)
	}
	e.fails(t, "sentinel_exec", map[string]any{"cmd": "hostnamectl set-hostname x"}, "Command not allowed: hostnamectl set-hostname x")
	n := e.rec.count()
	e.fails(t, "sentinel_exec", map[string]any{"cmd": "   "}, "cmd is required")
	e.fails(t, "sentinel_exec", map[string]any{}, "cmd")
	if e.rec.count() != n {
		t.Error("invalid input reached the agent")
	}

	out = e.ok(t, "sentinel_service", map[string]any{"service": "nginx", "action": "status"})
	if rq := e.rec.last(t); rq.Path != "/service" || rq.JSON["service"] != "nginx" || rq.JSON["action"] != "status" {
		t.Errorf("agent got %s %v", rq.Path, rq.JSON)
	}
	if out["service"] != "nginx" {
		t.Errorf("service result %v", out)
	}
	e.fails(t, "sentinel_service", map[string]any{"service": "postgres", "action": "status"}, "Service not allowed: postgres")
	_, res := e.call(t, "sentinel_service", map[string]any{"service": "docker", "action": "reload"})
	if !res.IsError || !strings.Contains(text(res), "Action not allowed for docker: reload") {
		t.Errorf("refusal text %q", text(res))
	}
	if sc, _ := json.Marshal(res.StructuredContent); !strings.Contains(string(sc), "allowed_actions") {
		t.Errorf("a refusal keeps the agent's JSON (allowed_actions) as structuredContent, got %s", sc)
	}
	e.fails(t, "sentinel_service", map[string]any{"service": "nginx", "action": "explode"}, "action")

	out = e.ok(t, "sentinel_restart", map[string]any{"service": "nginx"})
	if out["ok"] != true || e.rec.last(t).JSON["service"] != "nginx" {
		t.Errorf("restart %v", out)
	}
	e.fails(t, "sentinel_restart", map[string]any{"service": "unknown"}, "Service not allowed: unknown")
	e.fails(t, "sentinel_restart", map[string]any{"service": ""}, "service is required")
}

func TestStateCapabilitiesHelp(t *testing.T) {
	e := newEnv(t)
	e.ok(t, "sentinel_exec", map[string]any{"cmd": "whoami"})
	st := e.ok(t, "sentinel_state", nil)
	if st["last_command"] != "whoami" || st["total_executions"] != float64(1) {
		t.Errorf("state after one exec = %v", st)
	}
	caps := e.ok(t, "sentinel_capabilities", nil)
	if cmds, _ := caps["allowed_commands"].([]any); len(cmds) != 89 {
		t.Errorf("capabilities lists %d allowed commands, the agent has 89", len(cmds))
	}
	help := e.ok(t, "sentinel_help", nil)
	if h, _ := help["help"].(map[string]any); len(h) == 0 || len(help) != 2 || help["_meta"] == nil {
		t.Errorf("help = %v, want only {help: {...}, _meta: {...}}", help)
	}
	if m, _ := st["_meta"].(map[string]any); m["proxy"] != "sentinelx-mcp" {
		t.Errorf("the result object carries _meta like the old bridge did, got %v", st["_meta"])
	}
}

func TestEdit(t *testing.T) {
	e := newEnv(t)
	path := "/etc/demo.conf"
	e.ok(t, "sentinel_edit", map[string]any{"path": path, "mode": "write", "new_text": "listen 80;\n", "create": true})
	rq := e.rec.last(t)
	if rq.Path != "/edit" || rq.JSON["path"] != path || rq.JSON["mode"] != "write" || rq.JSON["new_text"] != "listen 80;\n" ||
		rq.JSON["create"] != true || rq.JSON["dry_run"] != false || rq.JSON["count"] != float64(0) {
		t.Errorf("agent got %v", rq.JSON)
	}
	if _, sent := rq.JSON["old"]; sent {
		t.Error("unset optional fields must not be sent (the agent treats \"\" as present)")
	}
	real := e.agent.RealPath(path)
	out := e.ok(t, "sentinel_edit", map[string]any{"path": path, "mode": "replace", "old": "80", "new_text": "8080", "dry_run": true, "diff": true})
	if b, _ := os.ReadFile(real); string(b) != "listen 80;\n" {
		t.Errorf("dry_run changed the file: %q", b)
	}
	if !strings.Contains(out["output"].(string), "8080") {
		t.Errorf("dry_run diff output %q does not show the change", out["output"])
	}
	e.ok(t, "sentinel_edit", map[string]any{"path": path, "mode": "replace", "old": "80", "new_text": "8080"})
	if b, _ := os.ReadFile(real); string(b) != "listen 8080;\n" {
		t.Errorf("after replace: %q", b)
	}
	e.ok(t, "sentinel_edit", map[string]any{"path": path, "mode": "append", "new_text": "# end\n"})
	e.ok(t, "sentinel_edit", map[string]any{"path": path, "mode": "regex", "pattern": "listen (\\d+)", "new_text": "listen 9090"})
	if b, _ := os.ReadFile(real); string(b) != "listen 9090;\n# end\n" {
		t.Errorf("after append+regex: %q", b)
	}
	e.fails(t, "sentinel_edit", map[string]any{"path": path, "mode": "replace", "new_text": "x"}, "En mode=replace debes indicar old")
	e.fails(t, "sentinel_edit", map[string]any{"path": path, "mode": "sideways", "new_text": "x"}, "mode")
	e.fails(t, "sentinel_edit", map[string]any{"path": " ", "mode": "write", "new_text": "x"}, "path is required")
	e.fails(t, "sentinel_edit", map[string]any{"path": path, "mode": "write", "new_text": "x", "count": -1}, "count")
}

func TestEditUpload(t *testing.T) {
	e := newEnv(t)
	path := "/srv/app/big.txt"
	e.ok(t, "sentinel_edit", map[string]any{"path": path, "mode": "write", "new_text": "alpha\nbeta\n", "create": true})
	init := e.ok(t, "sentinel_edit_upload_init", nil)
	id, _ := init["upload_id"].(string)
	if id == "" {
		t.Fatalf("init = %v", init)
	}
	newText := strings.Repeat("gamma\n", 1000)
	out := e.ok(t, "sentinel_edit_upload_file", map[string]any{"upload_id": id, "role": "new",
		"content_base64": base64.StdEncoding.EncodeToString([]byte(newText))})
	sum := sha256.Sum256([]byte(newText))
	if out["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("agent stored sha256 %v, want %x", out["sha256"], sum)
	}
	if rq := e.rec.last(t); rq.Form["upload_id"] != id || rq.Form["role"] != "new" || string(rq.File) != newText {
		t.Errorf("multipart fields %v, file %d bytes", rq.Form, len(rq.File))
	}
	os.WriteFile(filepath.Join(e.dir, "old.txt"), []byte("beta\n"), 0o600)
	e.ok(t, "sentinel_edit_upload_file", map[string]any{"upload_id": id, "role": "old", "input_file": "old.txt"})
	e.ok(t, "sentinel_edit_upload_complete", map[string]any{"upload_id": id, "path": path, "mode": "replace"})
	if b, _ := os.ReadFile(e.agent.RealPath(path)); string(b) != "alpha\n"+newText {
		t.Errorf("after edit upload: %d bytes", len(b))
	}
	e.fails(t, "sentinel_edit_upload_file", map[string]any{"upload_id": id, "role": "both", "content_base64": "eA=="}, "role")
	e.fails(t, "sentinel_edit_upload_file", map[string]any{"upload_id": id, "role": "new"}, "exactly one of")
	e.fails(t, "sentinel_edit_upload_file", map[string]any{"upload_id": id, "role": "new", "input_file": "/proc/self/environ"}, "outside EDIT_UPLOAD_LOCAL_DIR")
	e.fails(t, "sentinel_edit_upload_file", map[string]any{"upload_id": id, "role": "new", "content_base64": "%%%"}, "invalid base64")
}

func TestUploadSingle(t *testing.T) {
	e := newEnv(t)
	data := []byte("#!/bin/sh\necho hi\n")
	out := e.ok(t, "sentinel_upload_file", map[string]any{"target_path": "bin/hi.sh", "content_base64": base64.StdEncoding.EncodeToString(data)})
	if out["upload_mode"] != "content_base64" || out["size"] != float64(len(data)) {
		t.Errorf("upload result %v", out)
	}
	if rq := e.rec.last(t); rq.Path != "/upload" || rq.Form["target_path"] != "bin/hi.sh" || rq.Form["overwrite"] != "false" || !bytes.Equal(rq.File, data) {
		t.Errorf("multipart %v", rq.Form)
	}
	e.fails(t, "sentinel_upload_file", map[string]any{"target_path": "bin/hi.sh", "content_base64": "eA=="}, "exists")
	e.ok(t, "sentinel_upload_file", map[string]any{"target_path": "bin/hi.sh", "content_base64": "eA==", "overwrite": true})
	e.fails(t, "sentinel_upload_file", map[string]any{"target_path": "../../etc/passwd", "content_base64": "eA=="}, "")
	e.fails(t, "sentinel_upload_file", map[string]any{"target_path": "x", "content_base64": "eA==", "file_url": "https://example.com/x"}, "exactly one of")
	e.fails(t, "sentinel_upload_file", map[string]any{"target_path": "x", "file_url": "https://example.com/x"}, "UPLOAD_URL_ALLOW is empty")
}

func TestUploadChunked(t *testing.T) {
	e := newEnv(t)
	const size = 10<<20 + 12345 // ≥ 10 MiB
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	sum := sha256.Sum256(data)
	const chunk = 3 << 20 // 4 chunks
	start := func(target string, total int) string {
		out := e.ok(t, "sentinel_upload_init", map[string]any{"target_path": target, "total_size": total})
		if rq := e.rec.last(t); rq.JSON["target_path"] != target || rq.JSON["total_size"] != float64(total) || rq.JSON["overwrite"] != false {
			t.Errorf("init sent %v", rq.JSON)
		}
		return out["upload_id"].(string)
	}
	send := func(id string, idx int, b []byte) {
		out := e.ok(t, "sentinel_upload_chunk", map[string]any{"upload_id": id, "index": idx, "chunk_base64": base64.StdEncoding.EncodeToString(b)})
		if out["chunk_size"] != float64(len(b)) {
			t.Errorf("chunk %d stored %v bytes, sent %d", idx, out["chunk_size"], len(b))
		}
	}
	parts := func() [][]byte {
		var p [][]byte
		for off := 0; off < size; off += chunk {
			p = append(p, data[off:min(off+chunk, size)])
		}
		return p
	}()
	if len(parts) < 4 {
		t.Fatalf("%d chunks; want at least 4", len(parts))
	}

	t.Run("in order, sha256 verified", func(t *testing.T) {
		id := start("big/file.bin", size)
		for i, p := range parts {
			send(id, i, p)
		}
		out := e.ok(t, "sentinel_upload_complete", map[string]any{"upload_id": id, "sha256": strings.ToUpper(hex.EncodeToString(sum[:]))})
		if out["sha256"] != hex.EncodeToString(sum[:]) || out["size"] != float64(size) {
			t.Errorf("complete = %v", out)
		}
		got, err := os.ReadFile(e.agent.RealPath("/var/lib/sentinelx/uploads/big/file.bin"))
		if err != nil || sha256.Sum256(got) != sum {
			t.Errorf("stored file differs (err %v, %d bytes)", err, len(got))
		}
	})
	t.Run("out of order", func(t *testing.T) {
		id := start("big/ooo.bin", size)
		for i := len(parts) - 1; i >= 0; i-- {
			send(id, i, parts[i])
		}
		e.ok(t, "sentinel_upload_complete", map[string]any{"upload_id": id, "sha256": hex.EncodeToString(sum[:])})
	})
	t.Run("missing chunk", func(t *testing.T) {
		id := start("big/missing.bin", size)
		for i, p := range parts {
			if i != 1 {
				send(id, i, p)
			}
		}
		e.fails(t, "sentinel_upload_complete", map[string]any{"upload_id": id, "sha256": hex.EncodeToString(sum[:])}, "")
		if _, err := os.Stat(e.agent.RealPath("/var/lib/sentinelx/uploads/big/missing.bin")); err == nil {
			t.Error("a failed upload left a file in place")
		}
	})
	t.Run("wrong sha256", func(t *testing.T) {
		id := start("big/badsha.bin", 0)
		send(id, 0, []byte("abc"))
		e.fails(t, "sentinel_upload_complete", map[string]any{"upload_id": id, "sha256": strings.Repeat("0", 64)}, "sha256")
		if _, err := os.Stat(e.agent.RealPath("/var/lib/sentinelx/uploads/big/badsha.bin")); err == nil {
			t.Error("a file with the wrong sha256 was written")
		}
	})
	t.Run("size mismatch", func(t *testing.T) {
		id := start("big/size.bin", 10)
		send(id, 0, []byte("abc"))
		e.fails(t, "sentinel_upload_complete", map[string]any{"upload_id": id}, "Size mismatch")
	})
	t.Run("bad input never reaches the agent", func(t *testing.T) {
		n := e.rec.count()
		e.fails(t, "sentinel_upload_complete", map[string]any{"upload_id": strings.Repeat("f", 32), "sha256": "nothex"}, "64 hex digits")
		e.fails(t, "sentinel_upload_chunk", map[string]any{"upload_id": "x", "index": -1, "chunk_base64": "eA=="}, "index")
		e.fails(t, "sentinel_upload_init", map[string]any{"target_path": "x", "total_size": -5}, "total_size")
		if e.rec.count() != n {
			t.Error("invalid input reached the agent")
		}
	})
}

func TestScriptRun(t *testing.T) {
	e := newEnv(t)
	out := e.ok(t, "sentinel_script_run", map[string]any{"interpreter": "bash", "content": "echo \"hi $1 $FOO\"", "args": []string{"there"}, "env": map[string]string{"FOO": "bar"}})
	if !strings.Contains(out["output"].(string), "hi there bar") {
		t.Errorf("script output %q", out["output"])
	}
	rq := e.rec.last(t)
	if rq.JSON["timeout"] != float64(60) || rq.JSON["cleanup"] != true || rq.JSON["sudo"] != false {
		t.Errorf("defaults not sent as the old bridge did: %v", rq.JSON)
	}
	for _, k := range []string{"cwd", "filename", "env"} {
		if _, ok := rq.JSON[k]; !ok {
			t.Errorf("%q must always be sent (null when unset)", k)
		}
	}
	e.ok(t, "sentinel_script_run", map[string]any{"interpreter": "python3", "content": "print(6*7)"})
	e.fails(t, "sentinel_script_run", map[string]any{"interpreter": "perl", "content": "print 1"}, "interpreter")
	e.fails(t, "sentinel_script_run", map[string]any{"interpreter": "bash", "content": "true", "timeout": 301}, "timeout")
	e.fails(t, "sentinel_script_run", map[string]any{"interpreter": "bash", "content": ""}, "content is required")
}
