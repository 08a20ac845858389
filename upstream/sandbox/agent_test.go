package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const tok = "agent-test-token"

// do sends one request straight to the handler.
func do(t *testing.T, a *Agent, method, path, auth, body string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func newAgent(t *testing.T, opts Options) *Agent {
	t.Helper()
	if opts.Token == "" {
		opts.Token = tok
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}

func TestAuthAndRouting(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	tests := []struct {
		name, method, path, auth, body string
		status                         int
		want                           string
	}{
		{"no header", "GET", "/state", "", "", 401, `{"detail":"Missing token"}`},
		{"lowercase bearer", "GET", "/state", "bearer " + tok, "", 401, `{"detail":"Missing token"}`},
		{"no space", "GET", "/state", "Bearer", "", 401, `{"detail":"Missing token"}`},
		{"two spaces", "GET", "/state", "Bearer  " + tok, "", 403, `{"detail":"Invalid token"}`},
		{"wrong", "GET", "/state", "Bearer nope", "", 403, `{"detail":"Invalid token"}`},
		{"extra part ignored", "GET", "/state", "Bearer " + tok + " extra", "", 200, `"total_executions":0`},
		{"unknown path", "GET", "/health", "Bearer " + tok, "", 404, `{"detail":"Not Found"}`},
		{"wrong method", "GET", "/exec", "Bearer " + tok, "", 405, `{"detail":"Method Not Allowed"}`},
		{"auth before body on /exec", "POST", "/exec", "", "notjson", 401, `{"detail":"Missing token"}`},
		{"422 before auth on /edit", "POST", "/edit", "", `{"path":"x","mode":"patch"}`, 422, `"type":"literal_error"`},
		{"model rule before auth", "POST", "/script/run", "", `{"interpreter":"bash","content":"  "}`, 422,
			`"msg":"Value error, content es obligatorio"`},
		{"multipart 422 before auth", "POST", "/upload", "", "", 422,
			`{"detail":[{"type":"missing","loc":["body","file"],"msg":"Field required","input":null},{"type":"missing","loc":["body","target_path"],"msg":"Field required","input":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, a, tt.method, tt.path, tt.auth, tt.body)
			if code != tt.status || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s, want %d containing %s", code, body, tt.status, tt.want)
			}
		})
	}
}

func TestValidation422(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	auth := "Bearer " + tok
	tests := []struct {
		name, path, body, want string
	}{
		{"edit missing", "/edit", `{}`,
			`{"detail":[{"type":"missing","loc":["body","path"],"msg":"Field required","input":{}},{"type":"missing","loc":["body","mode"],"msg":"Field required","input":{}}]}`},
		{"edit bad types", "/edit", `{"path":1,"mode":"write","count":"x","diff":"maybe"}`,
			`{"detail":[{"type":"string_type","loc":["body","path"],"msg":"Input should be a valid string","input":1},` +
				`{"type":"int_parsing","loc":["body","count"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"x"},` +
				`{"type":"bool_parsing","loc":["body","diff"],"msg":"Input should be a valid boolean, unable to interpret input","input":"maybe"}]}`},
		{"edit replace needs new_text", "/edit", `{"path":"a","mode":"replace","old":"x"}`, `"msg":"Value error, En mode=replace debes indicar new_text"`},
		{"edit regex", "/edit", `{"path":"a","mode":"regex","new_text":"x"}`, `"msg":"Value error, En mode=regex debes indicar pattern"`},
		{"edit block", "/edit", `{"path":"a","mode":"replace-block","new_text":"x","start_marker":"s"}`,
			`"msg":"Value error, En mode=replace-block debes indicar start_marker y end_marker"`},
		{"edit append", "/edit", `{"path":"a","mode":"append"}`, `"msg":"Value error, En mode=append debes indicar new_text"`},
		{"edit path blank", "/edit", `{"path":" ","mode":"write","new_text":""}`, `"msg":"Value error, path es obligatorio"`},
		{"edit validator conflict", "/edit", `{"path":"a","mode":"write","new_text":"","validator":"x","validator_preset":"json"}`,
			`"msg":"Value error, No puedes usar validator y validator_preset juntos"`},
		{"edit count", "/edit", `{"path":"a","mode":"write","new_text":"","count":-1}`, `"msg":"Value error, count no puede ser negativo"`},
		{"complete upload_id", "/edit/upload/complete", `{"upload_id":"","path":"a","mode":"write"}`, `"msg":"Value error, upload_id es obligatorio"`},
		{"script literal", "/script/run", `{"interpreter":"sh","content":"x"}`,
			`"msg":"Input should be 'bash' or 'python3'","input":"sh","ctx":{"expected":"'bash' or 'python3'"}`},
		{"script args", "/script/run", `{"interpreter":"bash","content":"x","args":["a",2]}`, `"loc":["body","args",1]`},
		{"script timeout", "/script/run", `{"interpreter":"bash","content":"x","timeout":301}`, `timeout debe estar entre 1 y 300 segundos`},
		{"invalid json", "/script/run", `{"interpreter":`, `"type":"json_invalid"`},
		{"not an object", "/edit", `[1]`, `"type":"model_attributes_type","loc":["body"]`},
		{"empty body", "/edit", ``, `{"detail":[{"type":"missing","loc":["body"],"msg":"Field required","input":null}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, body := do(t, a, "POST", tt.path, auth, tt.body)
			if code != 422 || !strings.Contains(body, tt.want) {
				t.Errorf("%d %s\nwant 422 containing %s", code, body, tt.want)
			}
		})
	}
}

func TestExecSandbox(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	if err := os.WriteFile(a.RealPath("notes.txt"), []byte("hello sandbox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", a.RealPath("passwd-link")); err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + tok
	tests := []struct {
		name, cmd string
		code      int
		out       string // exact output, or prefix when ending in "…"
	}{
		{"echo", "echo hi there", 0, "hi there"},
		{"cat relative", "cat notes.txt", 0, "hello sandbox"},
		{"cat absolute", "cat /var/lib/sentinelx/sandbox/notes.txt", 0, "hello sandbox"},
		{"pwd is virtual", "pwd", 0, "/var/lib/sentinelx/sandbox"},
		{"dotdot stays inside", "cat ../../../../../etc/passwd", 1, "cat: /etc/passwd: No such file or directory"},
		{"symlink escape", "cat passwd-link", 2, "sandbox: passwd-link: path escapes the sandbox"},
		{"no shell", "echo x; id", 2, "sandbox: shell syntax is not supported (found ';')…"},
		{"no subshell", "echo $(id)", 2, "sandbox: shell syntax is not supported (found '$')…"},
		{"allowed but not here", "sudo cat /etc/shadow", 127, "sandbox: command not available: sudo…"},
		{"prefix only", "lsblk", 127, "sandbox: command not available: lsblk…"},
		{"long option", "du -h --files0-from=/x", 2, "sandbox: long options are not supported: --files0-from=/x"},
		{"no args", "uptime -V", 2, "sandbox: uptime takes no arguments here"},
		{"empty output", "cat empty.txt", 1, "cat: empty.txt: No such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, _ := json.Marshal(map[string]string{"cmd": tt.cmd})
			code, body := do(t, a, "POST", "/exec", auth, string(b))
			if code != 200 {
				t.Fatalf("%d %s", code, body)
			}
			var res struct {
				Output     string `json:"output"`
				ReturnCode int    `json:"returncode"`
			}
			_ = json.Unmarshal([]byte(body), &res)
			want, prefix := strings.CutSuffix(tt.out, "…")
			ok := res.Output == want || (prefix && strings.HasPrefix(res.Output, want))
			if res.ReturnCode != tt.code || !ok {
				t.Errorf("got %d %q, want %d %q", res.ReturnCode, res.Output, tt.code, tt.out)
			}
		})
	}
}

func TestStateCountersAndServices(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	auth := "Bearer " + tok
	steps := []struct{ path, body, want string }{
		{"/exec", `{"cmd":"reboot"}`, `{"error":"Command not allowed: reboot"}`},
		{"/service", `{"service":"nginx","action":"stop"}`, `"output":"⚠️ Sin salida"`},
		{"/service", `{"service":"nginx","action":"status"}`, `Active: inactive (dead)","duration":0.0,"returncode":3,"ok":false`},
		{"/service", `{"service":"nginx","action":"reload"}`, `"returncode":1,"ok":false,"service":"nginx","action":"reload","command":"sudo systemctl reload nginx"`},
		{"/restart", `{"service":"nginx"}`, `{"ok":true,"service":"nginx","message":"nginx restart triggered"}`},
		{"/service", `{"service":"nginx","action":" status "}`, `"returncode":0,"ok":true,"service":"nginx","action":"status","command":"systemctl status nginx"`},
		{"/service", `{"service":"nginx","action":"  "}`, `{"error":"Missing action","status":"blocked"}`},
		{"/service", `{"service":"nginx"}`, `{"detail":"Missing action"}`},
		{"/restart", `{"service":"redis"}`, `{"error":"Service not allowed: redis"}`},
		{"/script/run", `{"interpreter":"bash","content":"exit 4"}`, `"ok":false`},
	}
	for _, s := range steps {
		_, body := do(t, a, "POST", s.path, auth, s.body)
		if !strings.Contains(body, s.want) {
			t.Errorf("%s %s = %s\nwant %s", s.path, s.body, body, s.want)
		}
	}
	_, body := do(t, a, "GET", "/state", auth, "")
	var st stateJSON
	_ = json.Unmarshal([]byte(body), &st)
	if st.TotalExecutions != 9 || st.BlockedCount != 3 || st.ErrorCount != 1 ||
		*st.LastCommand != "script:script.sh" || *st.LastStatus != "error" || *st.LastOutput != outNone {
		t.Errorf("state = %s", body)
	}
}

func TestEditModes(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	const orig = "alpha\nbeta\nalpha\n<!-- B -->old<!-- E -->\n"
	tests := []struct {
		name, req string
		create    bool
		code      int
		out       string // substring of output
		content   string // file afterwards ("" = unchanged)
	}{
		{"replace all", `"mode":"replace","old":"alpha","new_text":"A"`, false, 0, "CHANGES: 2", "A\nbeta\nA\n<!-- B -->old<!-- E -->\n"},
		{"replace count", `"mode":"replace","old":"alpha","new_text":"A","count":1`, false, 0, "CHANGES: 1", "A\nbeta\nalpha\n<!-- B -->old<!-- E -->\n"},
		{"replace insufficient", `"mode":"replace","old":"alpha","new_text":"A","count":3`, false, 2, "ERROR: Coincidencias insuficientes: 2 < 3", ""},
		{"replace missing", `"mode":"replace","old":"zeta","new_text":"A"`, false, 2, "ERROR: Texto objetivo no encontrado", ""},
		{"regex", `"mode":"regex","pattern":"^(a)lpha$","new_text":"\\1LPHA","multiline":true`, false, 0, "CHANGES: 2", "aLPHA\nbeta\naLPHA\n<!-- B -->old<!-- E -->\n"},
		{"regex none", `"mode":"regex","pattern":"zz+","new_text":"x"`, false, 2, "ERROR: Regex no encontró coincidencias", ""},
		{"regex invalid", `"mode":"regex","pattern":"(","new_text":"x"`, false, 1, "re.error", ""},
		{"block", `"mode":"replace-block","start_marker":"<!-- B -->","end_marker":"<!-- E -->","new_text":"NEW"`, false, 0, "CHANGES: 1", "alpha\nbeta\nalpha\nNEW\n"},
		{"block no start", `"mode":"replace-block","start_marker":"<x>","end_marker":"<!-- E -->","new_text":"N"`, false, 2, "ERROR: Marcador de inicio no encontrado", ""},
		{"block no end", `"mode":"replace-block","start_marker":"<!-- B -->","end_marker":"<y>","new_text":"N"`, false, 2, "ERROR: Marcador de fin no encontrado", ""},
		{"append", `"mode":"append","new_text":"tail\n"`, false, 0, "CHANGES: 1", orig + "tail\n"},
		{"prepend escapes", `"mode":"prepend","new_text":"head\\n","interpret_escapes":true`, false, 0, "CHANGES: 1", "head\n" + orig},
		{"no change", `"mode":"write","new_text":"` + strings.ReplaceAll(orig, "\n", `\n`) + `"`, false, 3, "ERROR: no hubo cambios efectivos", ""},
		{"allow no change", `"mode":"append","new_text":"","allow_no_change":true`, false, 0, "CHANGES: 0", orig},
		{"dry run", `"mode":"write","new_text":"x","dry_run":true,"diff":true`, false, 0, "/f.txt\nCHANGES: 1", ""},
		{"json preset bad", `"mode":"write","new_text":"{","validator_preset":"json"`, false, 4, "ERROR: validacion fallida", ""},
		{"json preset ok", `"mode":"write","new_text":"{}","validator_preset":"json"`, false, 0, "VALIDATOR: python3 -m json.tool", "{}"},
		{"custom validator refused", `"mode":"write","new_text":"x","validator":"true {file}"`, false, 4, "custom validators", ""},
		{"missing file", `"mode":"write","new_text":"x","path":"nope/new.txt"`, true, 2, "ERROR: el archivo no existe; usa --create para crearlo", ""},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := "case" + string(rune('a'+i))
			file := filepath.Join(a.RealPath(dir), "f.txt")
			_ = os.MkdirAll(filepath.Dir(file), 0o755)
			_ = os.WriteFile(file, []byte(orig), 0o644)
			path := dir + "/f.txt"
			body := `{"path":"` + path + `",` + tt.req + `}`
			if strings.Contains(tt.req, `"path"`) {
				body = "{" + tt.req + "}"
			}
			code, resp := do(t, a, "POST", "/edit", "Bearer "+tok, body)
			if code != 200 {
				t.Fatalf("%d %s", code, resp)
			}
			var res editResult
			_ = json.Unmarshal([]byte(resp), &res)
			if res.ReturnCode != tt.code || !strings.Contains(res.Output, tt.out) || res.OK != (tt.code == 0) {
				t.Errorf("got %d %q", res.ReturnCode, res.Output)
			}
			want := tt.content
			if want == "" {
				want = orig
			}
			if got, _ := os.ReadFile(file); string(got) != want {
				t.Errorf("file = %q, want %q", got, want)
			}
		})
	}
}

func TestUnifiedDiffMatchesGNU(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("diff"); err != nil {
		t.Skip("diff not installed")
	}
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := range n {
			b.WriteString(f(i) + "\n")
		}
		return b.String()
	}
	base := lines(40, func(i int) string { return "line " + string(rune('A'+i%26)) + string(rune('0'+i/26)) })
	tests := []struct{ name, a, b string }{
		{"one change", "a\nb\nc\n", "a\nB\nc\n"},
		{"insert at top", "a\nb\n", "x\na\nb\n"},
		{"from empty", "", "new\n"},
		{"to empty", "old\n", ""},
		{"no final newline", "a\nb", "a\nc"},
		{"two hunks", base, strings.Replace(strings.Replace(base, "line B0", "changed", 1), "line K1", "other", 1)},
		{"close hunks merge", base, strings.Replace(strings.Replace(base, "line B0", "x", 1), "line H0", "y", 1)},
		{"delete block", base, strings.Replace(base, "line C0\nline D0\nline E0\n", "", 1)},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pa, pb := filepath.Join(dir, tt.name+".a"), filepath.Join(dir, tt.name+".b")
			_ = os.WriteFile(pa, []byte(tt.a), 0o644)
			_ = os.WriteFile(pb, []byte(tt.b), 0o644)
			out, _ := exec.Command("diff", "-u", pa, pb).Output()
			want := string(out)
			if i := strings.Index(want, "@@"); i >= 0 {
				want = want[i:]
			}
			got := unifiedDiff(tt.a, tt.b, "a", "b")
			if i := strings.Index(got, "@@"); i >= 0 {
				got = got[i:]
			}
			if got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

func TestScriptRun(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	auth := "Bearer " + tok
	tests := []struct {
		name, body string
		want       []string
	}{
		{"timeout", `{"interpreter":"bash","content":"sleep 5","timeout":1}`, []string{`"output":"⏱️ Timeout"`, `"returncode":-1`}},
		{"missing cwd", `{"interpreter":"bash","content":"pwd","cwd":"/nope"}`,
			[]string{`"output":"❌ Error: [Errno 2] No such file or directory: '/nope'"`, `"returncode":-1`}},
		{"cwd virtual", `{"interpreter":"bash","content":"pwd","cwd":"/var/lib/sentinelx/uploads"}`, []string{`"output":"/var/lib/sentinelx/uploads"`}},
		{"no token in env", `{"interpreter":"bash","content":"env"}`, []string{`PATH=`}},
		{"keep files", `{"interpreter":"python3","content":"print(1)","cleanup":false,"filename":"../x/t.py","sudo":true}`,
			[]string{`"command":["sudo","python3","/var/lib/sentinelx/uploads/.sentinelx_uploads/script_job_`, `/t.py"]`, `"script_path":"/var/lib/sentinelx/uploads/.sentinelx_uploads/script_job_`, `"workdir":`}},
		{"dot filename", `{"interpreter":"bash","content":"x","filename":".."}`, []string{"Internal Server Error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, body := do(t, a, "POST", "/script/run", auth, tt.body)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s\nmissing %s", body, w)
				}
			}
			if strings.Contains(body, a.Dir()) {
				t.Errorf("real sandbox path leaked: %s", body)
			}
		})
	}
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		d := newAgent(t, Options{DisableScripts: true})
		_, body := do(t, d, "POST", "/script/run", auth, `{"interpreter":"bash","content":"id"}`)
		if !strings.Contains(body, `"returncode":126`) {
			t.Error(body)
		}
	})
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	srv := Start(t, Options{Token: tok})
	client := &http.Client{}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := "/exec", `{"cmd":"echo hi"}`
			if i%2 == 0 {
				path, body = "/edit", `{"path":"c.txt","mode":"append","new_text":"x","create":true}`
			}
			req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(srv.RealPath("c.txt"))
	if string(b) != "xxxxxxxx" {
		t.Errorf("c.txt = %q (lost updates)", b)
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	a := newAgent(t, Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Serve(ctx, ln) }()
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/state", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Serve: %v", err)
	}

	wild, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Skip(err)
	}
	defer wild.Close()
	if err := a.Serve(context.Background(), wild); err == nil || !strings.Contains(err.Error(), "non-loopback") {
		t.Errorf("Serve on 0.0.0.0: %v", err)
	}
}
