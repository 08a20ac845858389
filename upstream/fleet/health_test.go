package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/internal/poll"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

var downMessage = regexp.MustCompile(`^host dead unreachable since \d\d:\d\d:\d\d \(connection refused\); next probe (in under 1s|in \d+s|due now)$`)

// TestDownAndBackUp: a host that refuses connections DownAfter times is
// marked down and fails at once with a message saying since when; once
// its agent answers again a probe brings it back, with its version.
func TestDownAndBackUp(t *testing.T) {
	t.Parallel()
	addr := testnet.ClosedAddr(t)
	live := newRecorder(t, "tok", sandbox.Options{})
	path := writeFile(t, t.TempDir(), "agents.yaml", hostsYAML(
		[4]string{"dead", "http://" + addr, "tok", ""},
		[4]string{"live", live.URL, "tok", ""},
	), 0o600)
	s := openStore(t, fleet.Options{Path: path, DownAfter: 3})
	dead, lv := host(t, s.Registry(), "dead"), host(t, s.Registry(), "live")
	poll.Until(t, "dead marked down", func() bool { return dead.Status().Down })
	var ue *upstream.Error
	if err := dead.Available(); !errors.As(err, &ue) || ue.Kind != upstream.KindUnreachable || !downMessage.MatchString(ue.Detail) {
		t.Fatalf("Available() = %v", err)
	}
	if st := dead.Status(); st.LastError != "connection refused" || st.Reachable || st.DownSince.IsZero() || st.CheckedAt.IsZero() {
		t.Errorf("dead status %+v", st)
	}
	poll.Until(t, "live probed", func() bool { return lv.Status().AgentVersion != "" })
	if st := lv.Status(); !st.Reachable || st.Down || st.AgentVersion != "0.3.5" || st.Latency <= 0 || st.LastError != "" || lv.Available() != nil {
		t.Errorf("live status %+v", st)
	}

	a, err := sandbox.New(sandbox.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-served })
	poll.Until(t, "dead back up", func() bool {
		st := dead.Status()
		return !st.Down && st.Reachable && st.AgentVersion == "0.3.5"
	})
	if err := dead.Available(); err != nil || !dead.Status().DownSince.IsZero() {
		t.Errorf("Available() = %v after coming back", err)
	}
}

// TestObserve: calls count toward down-marking like probes; an answer of
// any kind resets the count; a timeout says nothing either way.
func TestObserve(t *testing.T) {
	t.Parallel()
	r, err := fleet.Parse([]byte(hostsYAML([4]string{"a", "http://" + testnet.ClosedAddr(t), "tok", ""})), fleet.Options{DownAfter: 3})
	if err != nil {
		t.Fatal(err)
	}
	h := host(t, r, "a")
	_, refused := h.Client.State(context.Background())
	timeout := &upstream.Error{Kind: upstream.KindTimeout, Detail: "timed out"}
	h.Observe(refused)
	h.Observe(refused)
	h.Observe(timeout)
	h.Observe(errors.New("not an agent error"))
	if h.Available() != nil || h.Status().Down {
		t.Fatal("down after 2 failures")
	}
	h.Observe(refused)
	err = h.Available()
	if err == nil || !strings.HasPrefix(err.Error(), "sentinelx: host a unreachable since ") || !strings.Contains(err.Error(), "(connection refused)") {
		t.Fatalf("Available() = %v", err)
	}
	h.Observe(&upstream.Error{Kind: upstream.KindHTTP, Status: 500})
	if h.Available() != nil {
		t.Fatal("an HTTP answer did not mark the host up")
	}
	h.Observe(refused)
	h.Observe(refused)
	h.Observe(nil)
	h.Observe(refused)
	if h.Available() != nil {
		t.Error("a success did not reset the count")
	}
}

// TestAcquire: at most MaxPerHost calls in flight per host; a caller
// waits until its context ends and is told how busy the host is.
func TestAcquire(t *testing.T) {
	t.Parallel()
	r, err := fleet.Parse([]byte(hostsYAML([4]string{"web-1", "http://127.0.0.1:1", "tok", ""})), fleet.Options{MaxPerHost: 2})
	if err != nil {
		t.Fatal(err)
	}
	h := host(t, r, "web-1")
	rel1, err1 := h.Acquire(context.Background())
	_, err2 := h.Acquire(context.Background())
	if err1 != nil || err2 != nil || h.Status().InFlight != 2 {
		t.Fatalf("%v %v, in flight %d", err1, err2, h.Status().InFlight)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, err = h.Acquire(ctx)
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Kind != upstream.KindTimeout || ue.Message() != "host web-1 is busy: 2 calls in flight" ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Acquire on a full host = %v", err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := h.Acquire(context.Background())
		got <- err
	}()
	rel1()
	if err := <-got; err != nil {
		t.Errorf("Acquire after a release = %v", err)
	}
}

// TestFaultsStayOnTheirHost: a slow agent, a 500, garbage and a reset
// each give that host's error, and the healthy host beside them is
// untouched; only connection-level failures count toward down.
func TestFaultsStayOnTheirHost(t *testing.T) {
	t.Parallel()
	ok := newRecorder(t, "t-ok", sandbox.Options{})
	slow := newRecorder(t, "t-slow", sandbox.Options{Fault: func(*http.Request) sandbox.Fault { return sandbox.FaultStall }})
	fail := newRecorder(t, "t-500", sandbox.Options{Fault: func(*http.Request) sandbox.Fault { return sandbox.FaultGarbage500 }})
	reset := newRecorder(t, "t-reset", sandbox.Options{Fault: func(*http.Request) sandbox.Fault { return sandbox.FaultReset }})
	garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html>not an agent</html>"))
	}))
	t.Cleanup(garbage.Close)
	r, err := fleet.Parse([]byte(hostsYAML(
		[4]string{"ok", ok.URL, "t-ok", ""},
		[4]string{"slow", slow.URL, "t-slow", ""},
		[4]string{"fail", fail.URL, "t-500", ""},
		[4]string{"garbage", garbage.URL, "t-garbage", ""},
		[4]string{"reset", reset.URL, "t-reset", ""},
	)), fleet.Options{DownAfter: 3, Client: upstream.Options{Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]upstream.Kind{"ok": 0, "slow": upstream.KindTimeout, "fail": upstream.KindHTTP,
		"garbage": upstream.KindBadResponse, "reset": upstream.KindUnreachable}
	for round := range 3 {
		var wg sync.WaitGroup
		for _, h := range r.Hosts() {
			if h.Name == "slow" && round > 0 {
				continue // one timeout says it; more would only slow the test
			}
			wg.Go(func() {
				_, err := h.Client.State(context.Background())
				h.Observe(err)
				var ue *upstream.Error
				var kind upstream.Kind
				if errors.As(err, &ue) {
					kind = ue.Kind
				}
				if kind != want[h.Name] {
					t.Errorf("round %d, %s: err %v (kind %v), want kind %v", round, h.Name, err, kind, want[h.Name])
				}
			})
		}
		wg.Wait()
	}
	for _, h := range r.Hosts() {
		if down := h.Available() != nil; down != (h.Name == "reset") {
			t.Errorf("%s: down %v", h.Name, down)
		}
	}
	if st := host(t, r, "reset").Status(); !strings.Contains(st.LastError, "reset") || strings.Contains(st.LastError, "127.0.0.1") {
		t.Errorf("reset LastError %q", st.LastError)
	}
	if _, err := host(t, r, "ok").Client.State(context.Background()); err != nil {
		t.Errorf("healthy host after the others failed: %v", err)
	}
}

// TestManyHostsSomeUnreachable: 200 hosts, 50 on closed ports. Probes
// mark exactly those 50 down (so calls to them fail at once) and the 150
// others up, and never run more than 16 at once.
func TestManyHostsSomeUnreachable(t *testing.T) {
	t.Parallel()
	a, err := sandbox.New(sandbox.Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	var cur, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		a.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	var entries [][4]string
	for i := range 200 {
		u := srv.URL
		if i%4 == 0 {
			u = "http://" + testnet.ClosedAddr(t)
		}
		entries = append(entries, [4]string{fmt.Sprintf("h%03d", i), u, "tok", ""})
	}
	path := writeFile(t, t.TempDir(), "agents.yaml", hostsYAML(entries...), 0o600)
	s := openStore(t, fleet.Options{Path: path, DownAfter: 2, ProbeInterval: 100 * time.Millisecond})
	r := s.Registry()
	count := func() (up, down int) {
		for _, h := range r.Hosts() {
			switch st := h.Status(); {
			case st.Down:
				down++
			case st.Reachable:
				up++
			}
		}
		return up, down
	}
	poll.Until(t, "150 up and 50 down", func() bool { up, down := count(); return up == 150 && down == 50 })
	for i, h := range r.Hosts() {
		err := h.Available()
		if (i%4 == 0) != (err != nil) {
			t.Errorf("%s: Available() = %v", h.Name, err)
		}
	}
	if p := peak.Load(); p > 16 {
		t.Errorf("%d probes at once, want at most 16", p)
	}
}

// TestNewSingle: the SENTINELX_URL host behaves as the single-host bridge
// always did: never marked down, no per-host cap, nothing to reload.
func TestNewSingle(t *testing.T) {
	t.Parallel()
	c, err := upstream.New(upstream.Options{BaseURL: "http://" + testnet.ClosedAddr(t), Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	s := fleet.NewSingle(c)
	r := s.Registry()
	h := host(t, r, fleet.DefaultHost)
	if !r.Single() || r.Len() != 1 || h.Client != c || h.URL() != c.BaseURL() || h.Labels == nil {
		t.Fatalf("registry %v, host %+v", r.Names(), h)
	}
	_, refused := c.State(context.Background())
	for range 10 {
		h.Observe(refused)
	}
	if err := h.Available(); err != nil {
		t.Errorf("single host marked down: %v", err)
	}
	for range 100 {
		if _, err := h.Acquire(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if h.Status().InFlight != 100 {
		t.Errorf("in flight %d", h.Status().InFlight)
	}
	if err := s.Reload(); err != nil || s.Status().Hosts != 1 {
		t.Errorf("Reload() = %v, status %+v", err, s.Status())
	}
	select {
	case <-s.Done():
	default:
		t.Error("Done not closed")
	}
	hosts, err := r.Select([]string{fleet.DefaultHost}, "")
	if err != nil || len(hosts) != 1 {
		t.Errorf("Select(default) = %v, %v", hosts, err)
	}
}

// TestHungAgentMarkedDown: an agent that accepts connections and never
// answers (or a host that drops packets) is marked down by probes that
// time out, so calls stop waiting on it.
func TestHungAgentMarkedDown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hung.Close() })
	path := writeFile(t, t.TempDir(), "agents.yaml", hostsYAML([4]string{"hung", hung.URL, "tok", ""}), 0o600)
	s := openStore(t, fleet.Options{Path: path, DownAfter: 2, Client: upstream.Options{Timeout: 100 * time.Millisecond}})
	h := host(t, s.Registry(), "hung")
	poll.Until(t, "the hung agent marked down", func() bool { return h.Status().Down })
	if err := h.Available(); err == nil || !strings.Contains(err.Error(), "unreachable since") || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("Available() = %v", err)
	}
}

// TestTokenFileMustBeARegularSmallFile: a FIFO (which would block a
// reload) or a file far larger than a token is refused with the reason.
func TestTokenFileMustBeARegularSmallFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.token")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	big := writeFile(t, dir, "big.token", strings.Repeat("x", 70<<10), 0o600)
	for _, tc := range []struct{ file, want string }{{fifo, "not a regular file"}, {big, "holds one token"}} {
		doc := "hosts:\n  - name: a\n    url: http://127.0.0.1:1\n    token_file: " + tc.file + "\n"
		path := writeFile(t, dir, "agents.yaml", doc, 0o600)
		if _, err := fleet.Load(path, fleet.Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.file, err, tc.want)
		}
	}
}
