package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// capture is one file of testdata/captures (recorded from the real agent).
type capture struct {
	Name    string `json:"name"`
	Request struct {
		Method    string            `json:"method"`
		Path      string            `json:"path"`
		Headers   map[string]string `json:"headers"`
		Raw       *string           `json:"raw"`
		Multipart *struct {
			Fields json.RawMessage `json:"fields"`
			Files  map[string]struct {
				Filename string `json:"filename"`
				Content  string `json:"content"`
			} `json:"files"`
		} `json:"multipart"`
	} `json:"request"`
	Response struct {
		Status int             `json:"status"`
		JSON   json.RawMessage `json:"json"`
		Raw    string          `json:"raw"`
		Text   string          `json:"text"`
	} `json:"response"`
}

type normRule struct {
	re   *regexp.Regexp
	repl string
}

// volatile are the parts of a body that legitimately differ run to run.
func volatile() []normRule {
	return []normRule{
		{regexp.MustCompile(`"duration":[0-9.eE+-]+`), `"duration":0`},
		{regexp.MustCompile(`"uptime":"[^"]*"`), `"uptime":"U"`},
		{regexp.MustCompile(`"last_update":"[^"]*"`), `"last_update":"T"`},
		{regexp.MustCompile(`(edit_job_|script_job_)[0-9a-f]{32}`), `${1}ID`},
		{regexp.MustCompile(`\\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{9} [+-]\d{4}`), `\tTS`},
		{regexp.MustCompile(`(\.conf)\.[a-z0-9_]{8}\\t`), `$1.TMP\t`},
		{regexp.MustCompile(`\.bak\.\d{8}-\d{6}-\d{6}`), `.bak.TS`},
	}
}

// hostSpecific blanks fields that depend on the recording host: uptime's
// text, and systemctl on a host without systemd (the fake simulates one).
func hostSpecific(name string) []normRule {
	switch name {
	case "exec-uptime":
		return []normRule{{regexp.MustCompile(`"output":"[^"]*"`), `"output":"X"`}}
	case "service-nginx-status":
		return []normRule{
			{regexp.MustCompile(`"output":"(?:[^"\\]|\\.)*"`), `"output":"X"`},
			{regexp.MustCompile(`"returncode":-?\d+,"ok":(true|false)`), `"returncode":0,"ok":B`},
		}
	}
	return nil
}

func normalize(s string, rules []normRule) string {
	for _, r := range rules {
		s = r.re.ReplaceAllString(s, r.repl)
	}
	return s
}

func loadCaptures(t *testing.T) []capture {
	t.Helper()
	var index []struct{ Name string }
	b, err := os.ReadFile(filepath.Join("testdata", "captures", "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "captures", "[0-9][0-9]-*.json"))
	if len(files) != len(index) {
		t.Fatalf("%d capture files, index lists %d", len(files), len(index))
	}
	var out []capture
	for i, f := range files {
		var c capture
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if c.Name != index[i].Name {
			t.Fatalf("%s: name %q, index says %q", f, c.Name, index[i].Name)
		}
		out = append(out, c)
	}
	return out
}

// TestReplayCaptures replays the real agent's 39 recorded exchanges, in
// order (they are stateful), and compares status and body byte for byte
// after normalizing volatile values.
func TestReplayCaptures(t *testing.T) {
	const token = "replay-token"
	srv := Start(t, Options{Token: token})
	ids := map[string]string{} // captured upload id -> ours
	srvClient := &http.Client{}
	subst := func(s string) string {
		s = strings.ReplaceAll(s, "<TOKEN>", token)
		for from, to := range ids {
			s = strings.ReplaceAll(s, from, to)
		}
		return s
	}
	for _, c := range loadCaptures(t) {
		if !t.Run(c.Name, func(t *testing.T) {
			var body io.Reader
			ct := c.Request.Headers["Content-Type"]
			switch {
			case c.Request.Multipart != nil:
				var buf bytes.Buffer
				mw := multipart.NewWriter(&buf)
				var fields map[string]string
				_ = json.Unmarshal(c.Request.Multipart.Fields, &fields)
				for _, k := range orderedKeys(c.Request.Multipart.Fields) {
					_ = mw.WriteField(k, subst(fields[k]))
				}
				for name, f := range c.Request.Multipart.Files {
					w, _ := mw.CreateFormFile(name, f.Filename)
					_, _ = w.Write([]byte(f.Content))
				}
				_ = mw.Close()
				body, ct = &buf, mw.FormDataContentType()
			case c.Request.Raw != nil:
				body = strings.NewReader(subst(*c.Request.Raw))
			}
			req, err := http.NewRequest(c.Request.Method, srv.URL+c.Request.Path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range c.Request.Headers {
				req.Header.Set(k, subst(v))
			}
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := srvClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.Response.Status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, c.Response.Status, got)
			}
			if c.Response.Text != "" {
				if string(got) != c.Response.Text {
					t.Fatalf("body = %q, want %q", got, c.Response.Text)
				}
				return
			}
			// Learn upload ids so later requests use ours.
			var wantID, gotID struct {
				UploadID string `json:"upload_id"`
			}
			_ = json.Unmarshal(c.Response.JSON, &wantID)
			_ = json.Unmarshal(got, &gotID)
			if wantID.UploadID != "" && gotID.UploadID != "" && wantID.UploadID != gotID.UploadID {
				if _, known := ids[wantID.UploadID]; !known {
					ids[wantID.UploadID] = gotID.UploadID
				}
			}
			g := string(got)
			for from, to := range ids {
				g = strings.ReplaceAll(g, to, from)
			}
			rules := append(volatile(), hostSpecific(c.Name)...)
			if w, gn := normalize(c.Response.Raw, rules), normalize(g, rules); w != gn {
				t.Errorf("body mismatch\n got: %s\nwant: %s", gn, w)
			}
		}) {
			t.FailNow() // later captures depend on earlier state
		}
	}
}
