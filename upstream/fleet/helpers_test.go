package fleet_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream/fleet"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// writeFile writes content to dir/name with mode and returns the path.
func writeFile(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // WriteFile keeps an existing file's mode
		t.Fatal(err)
	}
	return p
}

// hostsYAML builds a hosts: list from "name url token labels" lines,
// with inline tokens (Parse does not check file modes).
func hostsYAML(entries ...[4]string) string {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, e := range entries {
		b.WriteString("  - name: " + e[0] + "\n    url: " + e[1] + "\n    token: " + e[2] + "\n")
		if e[3] != "" {
			b.WriteString("    labels: {" + e[3] + "}\n")
		}
	}
	return b.String()
}

// recorder is a sandbox agent behind a server that records the
// Authorization header of every request it receives.
type recorder struct {
	URL   string
	conns atomic.Int32 // connections open
	mu    sync.Mutex
	seen  []string
}

func newRecorder(t *testing.T, token string, opts sandbox.Options) *recorder {
	t.Helper()
	opts.Token = token
	a, err := sandbox.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, r.Header.Get("Authorization"))
		rec.mu.Unlock()
		a.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			rec.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			rec.conns.Add(-1)
		}
	}
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		_ = a.Close()
	})
	rec.URL = srv.URL
	return rec
}

// Seen returns the distinct Authorization headers received so far.
func (r *recorder) Seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Compact(slices.Sorted(slices.Values(r.seen)))
}

// openStore opens a store for the test's lifetime, with intervals small
// enough for tests; o's non-zero fields win.
func openStore(t *testing.T, o fleet.Options) *fleet.Store {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 10 * time.Millisecond
	}
	if o.Poll == 0 {
		o.Poll = time.Hour
	}
	s, err := fleet.Open(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		<-s.Done()
	})
	return s
}

// host looks name up in r or fails the test.
func host(t *testing.T, r *fleet.Registry, name string) *fleet.Host {
	t.Helper()
	h, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("no host %q in %v", name, r.Names())
	}
	return h
}
