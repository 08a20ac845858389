package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/internal/testlog"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// TestReloadKeepsUnchangedHosts: a host whose name, URL, token and
// timeout did not change keeps its *Host; a relabelled one keeps its
// client and health; a re-keyed one gets a new client; OnChange runs
// once per reload that changed something.
func TestReloadKeepsUnchangedHosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "a.token", "tok-a\n", 0o600)
	writeFile(t, dir, "b.token", "tok-b\n", 0o600)
	writeFile(t, dir, "b2.token", "tok-b2\n", 0o600)
	addrs := map[string]string{} // one closed port per host name, kept across rewrites
	entry := func(name, tokenFile, extra string) string {
		if addrs[name] == "" {
			addrs[name] = testnet.ClosedAddr(t)
		}
		return fmt.Sprintf("  - name: %s\n    url: http://%s\n    token_file: %s\n%s", name, addrs[name], tokenFile, extra)
	}
	a, e := entry("a", "a.token", "    labels: {role: web}\n"), entry("e", "a.token", "")
	path := writeFile(t, dir, "agents.yaml", "hosts:\n"+a+entry("b", "b.token", "")+entry("c", "b.token", "    timeout: 5s\n")+e+
		entry("f", "b.token", "    timeout: 5s\n"), 0o600)
	s := openStore(t, fleet.Options{Path: path})
	var changes []*fleet.Registry
	s.OnChange(func(r *fleet.Registry) { changes = append(changes, r) })
	r1 := s.Registry()
	st1 := s.Status()

	e2 := entry("e", "a.token", "    labels: {role: db}\n")
	writeFile(t, dir, "agents.yaml", "hosts:\n"+a+entry("b", "b2.token", "")+e2+entry("d", "b.token", "")+
		entry("f", "b.token", "    timeout: 6s\n"), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	r2 := s.Registry()
	if f1, f2 := host(t, r1, "f"), host(t, r2, "f"); f1 == f2 || f1.Client == f2.Client || f2.Timeout != 6*time.Second {
		t.Errorf("host f with a new timeout: same *Host %v, same client %v, timeout %v", f1 == f2, f1.Client == f2.Client, f2.Timeout)
	}
	if host(t, r2, "a") != host(t, r1, "a") {
		t.Error("unchanged host a got a new *Host")
	}
	if host(t, r2, "b") == host(t, r1, "b") || host(t, r2, "b").Client == host(t, r1, "b").Client {
		t.Error("re-keyed host b kept its *Host or client")
	}
	if e1, e2 := host(t, r1, "e"), host(t, r2, "e"); e1 == e2 || e1.Client != e2.Client || e2.Labels["role"] != "db" || len(e1.Labels) != 0 {
		t.Errorf("relabelled host e: same *Host %v, same client %v, labels %v then %v", e1 == e2, e1.Client == e2.Client, e1.Labels, e2.Labels)
	}
	if _, ok := r2.Lookup("c"); ok || !slices.Equal(r1.Names(), []string{"a", "b", "c", "e", "f"}) || !slices.Equal(r2.Names(), []string{"a", "b", "d", "e", "f"}) {
		t.Errorf("names %v then %v", r1.Names(), r2.Names())
	}
	if len(changes) != 1 || changes[0] != r2 {
		t.Errorf("OnChange calls = %d, want 1 with the new registry", len(changes))
	}
	if st2 := s.Status(); st2.Hosts != 5 || st2.Digest == st1.Digest || st2.LastError != "" || st2.Path != path {
		t.Errorf("status %+v after %+v", st2, st1)
	}
	if err := s.Reload(); err != nil || len(changes) != 1 {
		t.Errorf("reload without a change: err %v, OnChange calls %d", err, len(changes))
	}
}

// TestBadReloadKeepsRegistry: a bad file leaves the registry in force,
// says why in the log and the status, and the next good load clears it.
func TestBadReloadKeepsRegistry(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := hostsYAML([4]string{"a", "http://" + testnet.ClosedAddr(t), "tok", ""})
	path := writeFile(t, dir, "agents.yaml", good, 0o600)
	var logs testlog.Buffer
	s := openStore(t, fleet.Options{Path: path, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	r1 := s.Registry()

	writeFile(t, dir, "agents.yaml", good+"  - name: a\n    url: http://127.0.0.1:1\n    token: x\n", 0o600)
	err := s.Reload()
	want := path + `: host 2 "a": name: duplicate of host 1`
	if err == nil || err.Error() != want {
		t.Fatalf("Reload() = %v, want %s", err, want)
	}
	if s.Registry() != r1 {
		t.Error("a bad file replaced the registry")
	}
	if st := s.Status(); st.LastError != want || st.LastErrorAt.IsZero() || st.Hosts != 1 {
		t.Errorf("status %+v", st)
	}
	if !strings.Contains(logs.String(), "agents file reload failed") || !strings.Contains(logs.String(), "duplicate of host 1") {
		t.Errorf("log lacks the failure: %s", logs.String())
	}

	writeFile(t, dir, "agents.yaml", good, 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if st := s.Status(); st.LastError != "" || !st.LastErrorAt.IsZero() {
		t.Errorf("a good load kept the error: %+v", st)
	}
	if _, err := fleet.Open(context.Background(), fleet.Options{Path: dir + "/absent.yaml"}); err == nil {
		t.Error("Open with a missing file succeeded")
	}
}

// TestPollSeesTokenFileChange: rotating a token file is a reload, and the
// new token is what the agent receives from then on.
func TestPollSeesTokenFileChange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	agent := newRecorder(t, "tok-2", sandbox.Options{})
	writeFile(t, dir, "a.token", "tok-1\n", 0o600)
	path := writeFile(t, dir, "agents.yaml",
		"hosts:\n  - name: a\n    url: "+agent.URL+"\n    token_file: a.token\n", 0o644)
	s := openStore(t, fleet.Options{Path: path, Poll: 5 * time.Millisecond})
	old := host(t, s.Registry(), "a")
	poll.Until(t, "a probe with the first token", func() bool { return slices.Contains(agent.Seen(), "Bearer tok-1") })
	if st := old.Status(); st.Reachable {
		t.Errorf("a wrong token probed as reachable: %+v", st)
	}

	writeFile(t, dir, "a.token", "", 0o600)
	poll.Until(t, "the emptied token file refused", func() bool { return strings.Contains(s.Status().LastError, "a.token is empty") })
	if host(t, s.Registry(), "a") != old {
		t.Fatal("a bad token file replaced the host")
	}
	writeFile(t, dir, "a.token", "tok-2\n", 0o600)
	poll.Until(t, "the rotated token loaded", func() bool { return host(t, s.Registry(), "a") != old })
	poll.Until(t, "the host reachable with the new token", func() bool { return host(t, s.Registry(), "a").Status().Reachable })
	if s.Status().LastError != "" {
		t.Errorf("LastError = %q after a good load", s.Status().LastError)
	}
}

// TestReloadSignal: a value on Options.Reload (SIGHUP) reloads at once.
func TestReloadSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "agents.yaml", hostsYAML([4]string{"a", "http://" + testnet.ClosedAddr(t), "tok", ""}), 0o600)
	hup := make(chan os.Signal, 1)
	s := openStore(t, fleet.Options{Path: path, Reload: hup})
	writeFile(t, dir, "agents.yaml", hostsYAML([4]string{"b", "http://" + testnet.ClosedAddr(t), "tok", ""}), 0o600)
	hup <- syscall.SIGHUP
	poll.Until(t, "the reload", func() bool { _, ok := s.Registry().Lookup("b"); return ok })
}

// TestTokensNeverCross: each host's token goes to its own agent only,
// on probes and calls alike, and a redirect never carries it elsewhere.
func TestTokensNeverCross(t *testing.T) {
	t.Parallel()
	agentA := newRecorder(t, "tok-a", sandbox.Options{})
	agentB := newRecorder(t, "tok-b", sandbox.Options{})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, agentB.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirect.Close)
	dir := t.TempDir()
	path := writeFile(t, dir, "agents.yaml", hostsYAML(
		[4]string{"a", agentA.URL, "tok-a", ""},
		[4]string{"b", agentB.URL, "tok-b", ""},
		[4]string{"r", redirect.URL, "tok-r", ""},
	), 0o600)
	s := openStore(t, fleet.Options{Path: path})
	r := s.Registry()
	for _, name := range []string{"a", "b"} {
		if _, err := host(t, r, name).Client.Exec(context.Background(), upstream.ExecRequest{Cmd: "uptime"}); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := host(t, r, "r").Client.Exec(context.Background(), upstream.ExecRequest{Cmd: "uptime"}); err == nil {
		t.Error("a redirect was followed")
	}
	poll.Until(t, "probes of all", func() bool {
		return host(t, r, "a").Status().Reachable && host(t, r, "b").Status().Reachable &&
			!host(t, r, "r").Status().CheckedAt.IsZero()
	})
	if got := agentA.Seen(); !slices.Equal(got, []string{"Bearer tok-a"}) {
		t.Errorf("agent A received %q", got)
	}
	if got := agentB.Seen(); !slices.Equal(got, []string{"Bearer tok-b"}) {
		t.Errorf("agent B received %q", got)
	}
}

// TestCallInFlightKeepsItsHost: a reload that removes a host does not
// touch a call already running on it: the call finishes on the *Host it
// started with, and the old registry still resolves it.
func TestCallInFlightKeepsItsHost(t *testing.T) {
	t.Parallel()
	started, release := make(chan struct{}), make(chan struct{})
	var once atomic.Bool
	slow := newRecorder(t, "tok", sandbox.Options{Fault: func(r *http.Request) sandbox.Fault {
		if r.URL.Path == "/exec" {
			if once.CompareAndSwap(false, true) {
				close(started)
			}
			<-release
		}
		return sandbox.FaultNone
	}})
	dir := t.TempDir()
	other := [4]string{"b", "http://" + testnet.ClosedAddr(t), "tok", ""}
	path := writeFile(t, dir, "agents.yaml", hostsYAML([4]string{"a", slow.URL, "tok", ""}, other), 0o600)
	s := openStore(t, fleet.Options{Path: path})
	r1 := s.Registry()
	h := host(t, r1, "a")
	done, err := h.Acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := h.Client.Exec(context.Background(), upstream.ExecRequest{Cmd: "uptime"})
		errc <- err
	}()
	<-started
	writeFile(t, dir, "agents.yaml", hostsYAML(other), 0o600)
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Registry().Lookup("a"); ok {
		t.Fatal("removed host still in the registry in force")
	}
	if got, _ := r1.Lookup("a"); got != h || h.Status().InFlight != 1 {
		t.Errorf("old registry lost the host, or in flight = %d", h.Status().InFlight)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Errorf("call on the removed host: %v", err)
	}
	done()
	done() // a second release is a no-op
	if n := h.Status().InFlight; n != 0 {
		t.Errorf("in flight = %d after release", n)
	}
	poll.Until(t, "the removed host's connections closed", func() bool { return slow.conns.Load() == 0 })
}

// TestStopsWhenContextEnds: watching and probing end with Open's context
// and leave no goroutine behind. Not parallel: it counts goroutines.
func TestStopsWhenContextEnds(t *testing.T) {
	agent := newRecorder(t, "tok", sandbox.Options{})
	dir := t.TempDir()
	path := writeFile(t, dir, "agents.yaml", hostsYAML(
		[4]string{"a", agent.URL, "tok", ""},
		[4]string{"b", "http://" + testnet.ClosedAddr(t), "tok", ""},
	), 0o600)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := fleet.Open(ctx, fleet.Options{Path: path, ProbeInterval: time.Millisecond, Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "probes", func() bool {
		return host(t, s.Registry(), "a").Status().AgentVersion != "" && host(t, s.Registry(), "b").Status().Down
	})
	cancel()
	select {
	case <-s.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("store did not stop")
	}
	poll.Until(t, fmt.Sprintf("goroutines back to %d", before), func() bool { return runtime.NumGoroutine() <= before })
}
