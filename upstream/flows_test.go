package upstream_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// TestFlowsAgainstAgent drives every endpoint through the client against
// the in-process agent, checking typed fields and Raw together.
func TestFlowsAgainstAgent(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken})
	c := newClient(t, srv.URL, testToken)
	ctx := context.Background()

	t.Run("exec", func(t *testing.T) {
		res, err := c.Exec(ctx, upstream.ExecRequest{Cmd: "echo hello"})
		if err != nil || res.Output != "hello" || res.ReturnCode != 0 || !strings.Contains(string(res.Raw), `"returncode":0`) {
			t.Fatalf("%+v %v", res, err)
		}
		_, err = c.Exec(ctx, upstream.ExecRequest{Cmd: "hostname"})
		if ue := asError(t, err); ue.Kind != upstream.KindRefused || ue.Detail != "Command not allowed: hostname" {
			t.Errorf("%v", ue)
		}
	})
	t.Run("service refusal keeps allowed_actions", func(t *testing.T) {
		_, err := c.Service(ctx, upstream.ServiceRequest{Service: "docker", Action: "reload"})
		ue := asError(t, err)
		var body struct {
			AllowedActions []string `json:"allowed_actions"`
		}
		_ = json.Unmarshal(ue.Body, &body)
		if ue.Kind != upstream.KindRefused || len(body.AllowedActions) != 4 {
			t.Errorf("%v body %s", ue, ue.Body)
		}
	})
	t.Run("service and restart", func(t *testing.T) {
		res, err := c.Service(ctx, upstream.ServiceRequest{Service: "nginx", Action: "validate"})
		if err != nil || !res.OK || res.Command != "sudo nginx -t" {
			t.Fatalf("%+v %v", res, err)
		}
		rr, err := c.Restart(ctx, upstream.RestartRequest{Service: "docker"})
		if err != nil || rr.Message != "docker restart triggered" {
			t.Fatalf("%+v %v", rr, err)
		}
	})
	t.Run("edit and edit upload", func(t *testing.T) {
		res, err := c.Edit(ctx, upstream.EditRequest{Path: "/etc/app.conf", Mode: "write", NewText: ptr("debug=true\n"),
			EditOptions: upstream.EditOptions{Create: true}})
		if err != nil || !res.OK {
			t.Fatalf("%+v %v", res, err)
		}
		res, err = c.Edit(ctx, upstream.EditRequest{Path: "/etc/app.conf", Mode: "replace", Old: ptr("nothere"), NewText: ptr("x")})
		if err != nil || res.OK || res.ReturnCode != 2 || res.Output != "ERROR: Texto objetivo no encontrado" {
			t.Fatalf("helper failure should be a result: %+v %v", res, err)
		}
		init, err := c.EditUploadInit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for role, text := range map[string]string{"new": "debug=false\n", "old": "debug=true\n"} {
			f, err := c.EditUploadFile(ctx, upstream.EditUploadFileRequest{UploadID: init.UploadID, Role: role, Content: []byte(text)})
			if err != nil || f.Size != int64(len(text)) || f.SHA256 != sha([]byte(text)) {
				t.Fatalf("%s: %+v %v", role, f, err)
			}
		}
		_, err = c.EditUploadFile(ctx, upstream.EditUploadFileRequest{UploadID: init.UploadID, Role: "both", Content: []byte("x")})
		if ue := asError(t, err); ue.Status != 400 || ue.Detail != "role must be 'new' or 'old'" {
			t.Errorf("%v", ue)
		}
		done, err := c.EditUploadComplete(ctx, upstream.EditUploadCompleteRequest{UploadID: init.UploadID, Path: "/etc/app.conf", Mode: "replace",
			EditOptions: upstream.EditOptions{Diff: true}})
		if err != nil || !done.OK || done.UploadID != init.UploadID || !strings.Contains(done.Output, "+debug=false") {
			t.Fatalf("%+v %v", done, err)
		}
		_, err = c.EditUploadComplete(ctx, upstream.EditUploadCompleteRequest{UploadID: init.UploadID, Path: "/etc/app.conf", Mode: "replace"})
		if ue := asError(t, err); ue.Status != 404 {
			t.Errorf("upload id reused: %v", ue)
		}
		_, err = c.Edit(ctx, upstream.EditRequest{Path: "x", Mode: "patch"})
		if ue := asError(t, err); ue.Status != 422 || !strings.HasPrefix(ue.Detail, "mode: Input should be 'replace'") {
			t.Errorf("%v", ue)
		}
	})
	t.Run("script deadline is its own timeout plus grace", func(t *testing.T) {
		// Options.Timeout is far shorter than the script; ScriptRun must not use it.
		short, err := upstream.New(upstream.Options{BaseURL: srv.URL, Token: testToken, Timeout: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		res, err := short.ScriptRun(ctx, upstream.ScriptRunRequest{Interpreter: "python3",
			Content: "import time,sys\ntime.sleep(0.2)\nprint(sys.argv[1:])", Args: []string{"a"}, Timeout: 5})
		if err != nil || res.Output != "['a']" || !res.Cleanup || res.Command[0] != "python3" {
			t.Fatalf("%+v %v", res, err)
		}
	})
}
