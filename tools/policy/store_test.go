package policy_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/internal/testlog"
	"github.com/pensados/sentinelx-mcp/tools/policy"
)

const allowAll = "rules:\n  - {name: all, effect: allow, unconstrained_args: [\"*\"]}\n"
const denyAll = "rules:\n  - {name: nobody, effect: deny}\n"

func writeFile(t *testing.T, name, body string) {
	t.Helper()
	// Write-then-rename, as editors and config management do.
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

func TestOpenFailsOnBadFile(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "policy.yaml")
	if _, err := policy.Open(name, realTools(t), nil); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
	writeFile(t, name, "rules:\n  - {name: broken, effect: allow, when: 'args.cmd =='}\n")
	_, err := policy.Open(name, realTools(t), nil)
	if err == nil || !strings.Contains(err.Error(), `rule "broken"`) || !strings.Contains(err.Error(), name) {
		t.Fatalf("bad file: %v", err)
	}
}

func TestReloadKeepsOldPolicyOnError(t *testing.T) {
	name := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, name, allowAll)
	var logs testlog.Buffer
	s, err := policy.Open(name, realTools(t), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	first := s.Status()
	if first.Rules != 1 || first.Digest == "" || first.LoadedAt.IsZero() || first.LastError != "" {
		t.Fatalf("status after open: %+v", first)
	}
	if d := s.Policy().Decide(alice, "sentinel_state", nil); !d.Allow {
		t.Fatalf("allow-all denied: %+v", d)
	}

	writeFile(t, name, "rules:\n  - {name: oops, effect: alow}\n")
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), `rule "oops": effect must be allow or deny`) {
		t.Fatalf("Reload error = %v", err)
	}
	st := s.Status()
	if st.Rules != 1 || st.Digest != first.Digest || st.LoadedAt != first.LoadedAt || !strings.Contains(st.LastError, "oops") || st.LastErrorAt.IsZero() {
		t.Fatalf("status after a bad reload: %+v", st)
	}
	if d := s.Policy().Decide(alice, "sentinel_state", nil); !d.Allow || d.Rule != "all" {
		t.Fatalf("the old policy is not in force: %+v", d)
	}
	if !strings.Contains(logs.String(), "previous policy stays in force") {
		t.Errorf("no log line for the failed reload:\n%s", logs.String())
	}

	writeFile(t, name, denyAll)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	st = s.Status()
	if st.LastError != "" || st.Digest == first.Digest {
		t.Fatalf("status after a good reload: %+v", st)
	}
	if d := s.Policy().Decide(alice, "sentinel_state", nil); d.Allow || d.Rule != "nobody" {
		t.Fatalf("the new policy is not in force: %+v", d)
	}
}

func TestWatchReloadsOnChangeAndSignal(t *testing.T) {
	name := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, name, allowAll)
	s, err := policy.Open(name, realTools(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { s.Watch(ctx, 10*time.Millisecond, hup); close(done) }()

	ruleOf := func() string { return s.Policy().Decide(alice, "sentinel_state", nil).Rule }
	writeFile(t, name, denyAll)
	poll.Until(t, "the changed file to load", func() bool { return ruleOf() == "nobody" })

	writeFile(t, name, "rules: [")
	poll.Until(t, "the broken file to be reported", func() bool { return s.Status().LastError != "" })
	if ruleOf() != "nobody" {
		t.Fatal("a broken file replaced the policy")
	}

	// SIGHUP reloads even when the file looks unchanged (same size and
	// mtime: a clock or copy that preserves times).
	writeFile(t, name, allowAll)
	poll.Until(t, "the fixed file to load", func() bool { return ruleOf() == "all" })
	fi, _ := os.Stat(name)
	// Written beside it with the old times, then renamed over it, so the
	// watcher never sees the new content with a new mtime.
	tmp := name + ".new"
	writeFile(t, tmp, strings.Replace(allowAll, "all", "abc", 1))
	if err := os.Chtimes(tmp, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	if ruleOf() != "all" {
		t.Fatal("reloaded without a visible change; the test cannot tell SIGHUP apart")
	}
	hup <- syscall.SIGHUP
	poll.Until(t, "SIGHUP to reload", func() bool { return ruleOf() == "abc" })

	// A deleted file keeps the policy and is reported.
	os.Remove(name)
	poll.Until(t, "the missing file to be reported", func() bool {
		return strings.Contains(s.Status().LastError, "no such file")
	})
	if ruleOf() != "abc" {
		t.Fatal("a deleted file changed the policy")
	}
	cancel()
	<-done
}
