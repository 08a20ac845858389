package upstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// seen is one request as it reached the server.
type seen struct {
	method, path string
	header       http.Header
	body         string            // JSON bodies
	fields       map[string]string // multipart text fields, in "name=value" form
	order        []string          // multipart part names in order
	file         struct{ name, filename, ctype, content string }
}

// recorder is an agent stand-in that records requests and answers a
// minimal success object for each endpoint.
func recorder(t *testing.T) (*httptest.Server, func() seen) {
	t.Helper()
	var mu sync.Mutex
	var last seen
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := seen{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), fields: map[string]string{}}
		mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mt == "multipart/form-data" {
			mr, err := r.MultipartReader()
			if err != nil {
				t.Errorf("multipart: %v", err)
				return
			}
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				b, _ := io.ReadAll(p)
				rec.order = append(rec.order, p.FormName())
				if p.FileName() != "" {
					rec.file.name, rec.file.filename = p.FormName(), p.FileName()
					rec.file.ctype, rec.file.content = p.Header.Get("Content-Type"), string(b)
					continue
				}
				rec.fields[p.FormName()] = string(b)
			}
		} else {
			b, _ := io.ReadAll(r.Body)
			rec.body = string(b)
		}
		mu.Lock()
		last = rec
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"ok":true,"chunk_size":%d}`, len(rec.file.content))
	}))
	t.Cleanup(s.Close)
	return s, func() seen {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

func ptr[T any](v T) *T { return &v }

func TestJSONRequestMapping(t *testing.T) {
	t.Parallel()
	s, last := recorder(t)
	c := newClient(t, s.URL, testToken)
	ctx := context.Background()
	tests := []struct {
		name   string
		call   func() error
		method string
		path   string
		body   string
	}{
		{"state", func() error { _, err := c.State(ctx); return err }, "GET", "/state", ""},
		{"capabilities", func() error { _, err := c.Capabilities(ctx); return err }, "GET", "/capabilities", ""},
		{"exec", func() error { _, err := c.Exec(ctx, upstream.ExecRequest{Cmd: "df -h"}); return err },
			"POST", "/exec", `{"cmd":"df -h"}`},
		{"service", func() error {
			_, err := c.Service(ctx, upstream.ServiceRequest{Service: "nginx", Action: "reload"})
			return err
		}, "POST", "/service", `{"service":"nginx","action":"reload"}`},
		{"restart", func() error { _, err := c.Restart(ctx, upstream.RestartRequest{Service: "docker"}); return err },
			"POST", "/restart", `{"service":"docker"}`},
		{"edit", func() error {
			_, err := c.Edit(ctx, upstream.EditRequest{Path: "/etc/x.conf", Mode: "replace", Old: ptr("a<b>"), NewText: ptr(""),
				EditOptions: upstream.EditOptions{Diff: true, ValidatorPreset: ptr("nginx"), Count: 2}})
			return err
		}, "POST", "/edit", `{"path":"/etc/x.conf","mode":"replace","old":"a<b>","new_text":"","sudo":false,"count":2,` +
			`"multiline":false,"dotall":false,"interpret_escapes":false,"validator_preset":"nginx","diff":true,` +
			`"dry_run":false,"allow_no_change":false,"create":false}`},
		{"edit upload init", func() error { _, err := c.EditUploadInit(ctx); return err }, "POST", "/edit/upload/init", `{}`},
		{"edit upload complete", func() error {
			_, err := c.EditUploadComplete(ctx, upstream.EditUploadCompleteRequest{UploadID: "ab", Path: "p", Mode: "replace-block",
				EditOptions: upstream.EditOptions{StartMarker: ptr("<!-- B -->"), EndMarker: ptr("<!-- E -->"), DryRun: true}})
			return err
		}, "POST", "/edit/upload/complete", `{"upload_id":"ab","path":"p","mode":"replace-block","sudo":false,` +
			`"start_marker":"<!-- B -->","end_marker":"<!-- E -->","count":0,"multiline":false,"dotall":false,` +
			`"interpret_escapes":false,"diff":false,"dry_run":true,"allow_no_change":false,"create":false}`},
		{"script defaults", func() error {
			_, err := c.ScriptRun(ctx, upstream.ScriptRunRequest{Interpreter: "bash", Content: "echo hi"})
			return err
		}, "POST", "/script/run", `{"interpreter":"bash","content":"echo hi","cwd":null,"timeout":60,"sudo":false,"filename":null,"env":null}`},
		{"script full", func() error {
			_, err := c.ScriptRun(ctx, upstream.ScriptRunRequest{Interpreter: "python3", Content: "print(1)", Args: []string{},
				Cwd: ptr("/tmp"), Timeout: 5, Cleanup: ptr(false), Filename: ptr("a.py"), Env: map[string]string{"A": "1"}})
			return err
		}, "POST", "/script/run", `{"interpreter":"python3","content":"print(1)","args":[],"cwd":"/tmp","timeout":5,` +
			`"sudo":false,"cleanup":false,"filename":"a.py","env":{"A":"1"}}`},
		{"upload init", func() error {
			_, err := c.UploadInit(ctx, upstream.UploadInitRequest{TargetPath: "b/db.tar", TotalSize: 18})
			return err
		}, "POST", "/upload/init", `{"target_path":"b/db.tar","overwrite":false,"total_size":18,"filename":null}`},
		{"upload complete", func() error {
			_, err := c.UploadComplete(ctx, upstream.UploadCompleteRequest{UploadID: "ab"})
			return err
		}, "POST", "/upload/complete", `{"upload_id":"ab"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			got := last()
			if got.method != tt.method || got.path != tt.path || got.body != tt.body {
				t.Errorf("got %s %s %s\nwant %s %s %s", got.method, got.path, got.body, tt.method, tt.path, tt.body)
			}
			if a := got.header.Get("Authorization"); a != "Bearer "+testToken {
				t.Errorf("Authorization = %q", a)
			}
			ct := got.header.Get("Content-Type")
			if (tt.method == "POST") != (ct == "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
		})
	}
}

func TestMultipartRequestMapping(t *testing.T) {
	t.Parallel()
	s, last := recorder(t)
	c := newClient(t, s.URL, testToken)
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func() error
		path     string
		order    []string
		fields   map[string]string
		file     string
		filename string
	}{
		{"upload", func() error {
			_, err := c.Upload(ctx, upstream.UploadRequest{TargetPath: "/site/hello.txt", Content: []byte("hello\n")})
			return err
		}, "/upload", []string{"target_path", "overwrite", "file"},
			map[string]string{"target_path": "/site/hello.txt", "overwrite": "false"}, "file", "hello.txt"},
		{"upload overwrite named", func() error {
			_, err := c.Upload(ctx, upstream.UploadRequest{TargetPath: "x", Overwrite: true, Filename: `we"ird.txt`, Content: []byte("hello\n")})
			return err
		}, "/upload", []string{"target_path", "overwrite", "file"},
			map[string]string{"target_path": "x", "overwrite": "true"}, "file", `we"ird.txt`},
		{"chunk", func() error {
			_, err := c.UploadChunk(ctx, upstream.UploadChunkRequest{UploadID: "ab", Index: 3, Content: []byte("hello\n")})
			return err
		}, "/upload/chunk", []string{"upload_id", "index", "chunk"},
			map[string]string{"upload_id": "ab", "index": "3"}, "chunk", "chunk.bin"},
		{"edit file", func() error {
			_, err := c.EditUploadFile(ctx, upstream.EditUploadFileRequest{UploadID: "ab", Role: "old", Content: []byte("hello\n")})
			return err
		}, "/edit/upload/file", []string{"upload_id", "role", "file"},
			map[string]string{"upload_id": "ab", "role": "old"}, "file", "old.bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err != nil {
				t.Fatal(err)
			}
			got := last()
			if got.path != tt.path || strings.Join(got.order, ",") != strings.Join(tt.order, ",") {
				t.Errorf("path %s parts %v, want %s %v", got.path, got.order, tt.path, tt.order)
			}
			for k, v := range tt.fields {
				if got.fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, got.fields[k], v)
				}
			}
			if got.file.name != tt.file || got.file.filename != tt.filename || got.file.content != "hello\n" ||
				got.file.ctype != "application/octet-stream" {
				t.Errorf("file part = %+v", got.file)
			}
			if a := got.header.Get("Authorization"); a != "Bearer "+testToken {
				t.Errorf("Authorization = %q", a)
			}
		})
	}
}

func TestCallerHeaders(t *testing.T) {
	t.Parallel()
	s, last := recorder(t)
	c := newClient(t, s.URL, testToken)
	h := http.Header{}
	h.Set("X-SentinelX-Subject", "5b1e")
	h.Set("Authorization", "Bearer stolen")
	if _, err := c.State(upstream.WithCallerHeaders(context.Background(), h)); err != nil {
		t.Fatal(err)
	}
	got := last()
	if got.header.Get("X-SentinelX-Subject") != "5b1e" || got.header.Get("Authorization") != "Bearer "+testToken {
		t.Errorf("headers = %v", got.header)
	}
}

func TestConnectionReuse(t *testing.T) {
	t.Parallel()
	a, err := sandbox.New(sandbox.Options{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	var mu sync.Mutex
	conns := 0
	s := httptest.NewUnstartedServer(a)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	c := newClient(t, s.URL, testToken)
	for i := range 50 {
		if _, err := c.Exec(context.Background(), upstream.ExecRequest{Cmd: "echo hi"}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		// Error answers must not cost a connection either.
		if _, err := c.Exec(context.Background(), upstream.ExecRequest{Cmd: "hostname"}); err == nil {
			t.Fatal("hostname allowed")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if conns > 2 {
		t.Errorf("100 sequential calls opened %d connections, want ≤ 2", conns)
	}
}

func TestRawKeepsEverything(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken})
	c := newClient(t, srv.URL, testToken)
	caps, err := c.Capabilities(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(caps.Raw, &all); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"upload_capabilities", "edit_capabilities", "script_capabilities", "locations", "playbooks"} {
		if _, ok := all[k]; !ok {
			t.Errorf("Raw lost %q", k)
		}
	}
	if len(caps.AllowedCommands) != 89 || caps.ServiceActions["nginx"].Risk != "low" {
		t.Errorf("typed fields: %d commands, nginx %+v", len(caps.AllowedCommands), caps.ServiceActions["nginx"])
	}
}
