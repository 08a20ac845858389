package fleet_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

const secret = "tok-5ecret-value"

// TestParseIssueExample: the file shape from the issue loads as written.
func TestParseIssueExample(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tf := writeFile(t, dir, "web-1.token", secret+"\n", 0o600)
	data := fmt.Sprintf(`hosts:
  - name: web-1
    url: http://10.0.0.11:8091
    token_file: %s
    labels: {role: web, env: prod}
  - name: db-1
    url: https://db-1.internal:8091
    token_env: SENTINELX_TOKEN_DB_1
    labels: {role: db, env: prod}
    timeout: 120s
`, tf)
	env := map[string]string{"SENTINELX_TOKEN_DB_1": "db-token"}
	r, err := fleet.Parse([]byte(data), fleet.Options{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Single() || !slices.Equal(r.Names(), []string{"db-1", "web-1"}) {
		t.Fatalf("Single %v, Names %v", r.Single(), r.Names())
	}
	db, _ := r.Lookup("db-1")
	web, _ := r.Lookup("web-1")
	if db.Timeout != 120*time.Second || web.Timeout != 0 {
		t.Errorf("timeouts %v, %v", db.Timeout, web.Timeout)
	}
	if db.Labels["role"] != "db" || web.Labels["env"] != "prod" || db.URL() != "https://db-1.internal:8091" {
		t.Errorf("db %v %s, web %v", db.Labels, db.URL(), web.Labels)
	}
	if db.Client == web.Client {
		t.Error("hosts share a client")
	}
}

// TestParseRefuses: every malformed entry is refused with a message that
// names the host (position and name) and the field, and no message ever
// carries a token.
func TestParseRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.token", " \n", 0o600)
	missing := filepath.Join(dir, "nope.token")
	ok := "    url: http://127.0.0.1:1\n    token: " + secret + "\n"
	entry := func(name, rest string) string { return "  - name: " + name + "\n" + rest }
	many := func(n int, labels bool) string {
		var b strings.Builder
		b.WriteString("hosts:\n")
		for i := range n {
			b.WriteString(entry(fmt.Sprintf("h%d", i), ok))
			if labels {
				b.WriteString("    labels: {")
				for j := range 33 {
					fmt.Fprintf(&b, "k%d: v,", j)
				}
				b.WriteString("}\n")
			}
		}
		return b.String()
	}
	tests := []struct{ name, data, want string }{
		{"empty", "", "empty file: want a hosts: list"},
		{"no hosts", "hosts: []\n", "no hosts"},
		{"unknown key", "hosts:\n" + entry("a", ok) + "    tokn: x\n", "field tokn not found in a host"},
		{"unknown top key", "host:\n" + entry("a", ok), "field host not found at the top level"},
		{"two documents", "hosts:\n" + entry("a", ok) + "---\nhosts: []\n", "more than one YAML document"},
		{"no name", "hosts:\n  - url: http://127.0.0.1:1\n    token: x\n", `host 1 "": name: missing`},
		{"bad name", "hosts:\n" + entry("Web_1", ok), `host 1 "Web_1": name: want a lower-case DNS label`},
		{"long name", "hosts:\n" + entry(strings.Repeat("a", 64), ok), "name: want a lower-case DNS label"},
		{"dash name", "hosts:\n" + entry("web-", ok), "name: want a lower-case DNS label"},
		{"duplicate", "hosts:\n" + entry("a", ok) + entry("b", ok) + entry("a", ok), `host 3 "a": name: duplicate of host 1`},
		{"no url", "hosts:\n" + entry("a", "    token: x\n"), `host 1 "a": url: is empty`},
		{"bad scheme", "hosts:\n" + entry("a", "    url: ftp://h\n    token: x\n"), `host 1 "a": url: must start with http:// or https://`},
		{"no scheme", "hosts:\n" + entry("a", "    url: 10.0.0.1:8091\n    token: x\n"), `host 1 "a": url: `},
		{"credentials", "hosts:\n" + entry("a", "    url: http://u:"+secret+"@h\n    token: x\n"), `host 1 "a": url: must not carry credentials`},
		{"no token", "hosts:\n" + entry("a", "    url: http://h\n"), `host 1 "a": token: missing; set one of token_file, token_env or token`},
		{"two tokens", "hosts:\n" + entry("a", ok+"    token_env: X\n"), `host 1 "a": token: set only one`},
		{"missing token file", "hosts:\n" + entry("a", "    url: http://h\n    token_file: "+missing+"\n"),
			`host 1 "a": token_file: open ` + missing + `: no such file or directory`},
		{"empty token file", "hosts:\n" + entry("a", "    url: http://h\n    token_file: "+empty+"\n"), `host 1 "a": token_file: ` + empty + " is empty"},
		{"unset env", "hosts:\n" + entry("a", "    url: http://h\n    token_env: NOT_SET\n"), `host 1 "a": token_env: NOT_SET is not set or empty`},
		{"spaced token", "hosts:\n" + entry("a", "    url: http://h\n    token: \""+secret+" x\"\n"), `host 1 "a": token: the token contains spaces`},
		{"bad timeout", "hosts:\n" + entry("a", ok+"    timeout: 120\n"), `host 1 "a": timeout: "120" is not a duration`},
		{"short timeout", "hosts:\n" + entry("a", ok+"    timeout: 500ms\n"), `host 1 "a": timeout: 500ms is outside 1s..1h0m0s`},
		{"long timeout", "hosts:\n" + entry("a", ok+"    timeout: 2h\n"), "timeout: 2h0m0s is outside"},
		{"label key", "hosts:\n" + entry("a", ok+"    labels: {\"ro le\": web}\n"), `host 1 "a": labels: key "ro le": want 1 to 63`},
		{"label value", "hosts:\n" + entry("a", ok+"    labels: {role: \"\"}\n"), `host 1 "a": labels: role: value "": want 1 to 63`},
		{"label long", "hosts:\n" + entry("a", ok+"    labels: {role: "+strings.Repeat("x", 64)+"}\n"), "labels: role: value"},
		{"too many labels", many(1, true), `host 1 "h0": labels: 33 labels, at most 32`},
		{"too many hosts", many(1001, false), "1001 hosts: at most 1000"},
		{"too large", "hosts:\n" + entry("a", ok) + "#" + strings.Repeat("x", 1<<20), "larger than 1 MiB"},
		{"hosts not a list", "hosts: " + secret + "\n", "yaml: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := fleet.Parse([]byte(tt.data), fleet.Options{Getenv: func(string) string { return "" }})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if tt.name != "hosts not a list" && strings.Contains(err.Error(), secret) {
				t.Errorf("err = %v carries the token", err)
			}
		})
	}
}

// TestLoadInlineTokenNeedsPrivateFile: an inline token is accepted only
// when group and other cannot read or write the file; otherwise the
// error says why and the chmod to run.
func TestLoadInlineTokenNeedsPrivateFile(t *testing.T) {
	t.Parallel()
	data := hostsYAML([4]string{"a", "http://127.0.0.1:1", secret, ""})
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o620} {
		p := writeFile(t, t.TempDir(), "agents.yaml", data, mode)
		_, err := fleet.Load(p, fleet.Options{})
		want := fmt.Sprintf(`%s: host 1 "a": token: an inline token needs a file only its owner can read, but %s has mode %04o; run chmod 600 %s, or use token_file or token_env`, p, p, mode, p)
		if err == nil || err.Error() != want {
			t.Errorf("mode %04o: err = %v\nwant %s", mode, err, want)
		}
	}
	p := writeFile(t, t.TempDir(), "agents.yaml", data, 0o600)
	if _, err := fleet.Load(p, fleet.Options{}); err != nil {
		t.Errorf("mode 0600: %v", err)
	}
}

// TestLoadErrorsNameTheFile, and a relative token_file is taken from the
// agents file's directory.
func TestLoadErrorsNameTheFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.token", "tok-a\n", 0o600)
	good := writeFile(t, dir, "good.yaml", "hosts:\n  - name: a\n    url: http://127.0.0.1:1\n    token_file: a.token\n", 0o644)
	if _, err := fleet.Load(good, fleet.Options{}); err != nil {
		t.Fatalf("relative token_file: %v", err)
	}
	bad := writeFile(t, dir, "bad.yaml", "hosts:\n  - name: a\n    url: http://127.0.0.1:1\n    token_file: b.token\n", 0o644)
	_, err := fleet.Load(bad, fleet.Options{})
	if want := bad + `: host 1 "a": token_file: open ` + filepath.Join(dir, "b.token"); err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want prefix %q", err, want)
	}
	if _, err := fleet.Load(filepath.Join(dir, "absent.yaml"), fleet.Options{}); err == nil || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("absent file: err = %v", err)
	}
}
