package main

// The fleet step's agents: many sandboxed agents in this process, each on
// its own loopback listener with its own token, and the AGENTS_FILE naming them.

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// farm is the in-process agents: one listener, token and sandbox each.
type farm struct {
	delay  atomic.Int64 // nanoseconds, for every agent
	states atomic.Int64 // GET /state answered (calls and probes)
	agents []farmAgent
}

type farmAgent struct {
	url, token string
	a          *sandbox.Agent
	srv        *http.Server
}

func startFarm(n int) (*farm, error) {
	f := &farm{}
	for range n {
		tok := rand.Text()
		a, err := sandbox.New(sandbox.Options{Token: tok, DisableScripts: true})
		if err != nil {
			f.close()
			return nil, err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			a.Close()
			f.close()
			return nil, err
		}
		srv := &http.Server{Handler: f.wrap(a), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		f.agents = append(f.agents, farmAgent{url: "http://" + ln.Addr().String(), token: tok, a: a, srv: srv})
	}
	return f, nil
}

// wrap delays every request by the farm's current delay, as
// `sentinelx-mcp agent --delay` does, and counts the GET /state answered.
func (f *farm) wrap(a *sandbox.Agent) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(f.delay.Load()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if r.URL.Path == "/state" {
			f.states.Add(1)
		}
		a.ServeHTTP(w, r)
	})
}

func (f *farm) close() {
	for _, a := range f.agents {
		a.srv.Close()
		a.a.Close()
	}
}

// closedURLs returns n loopback URLs nothing listens on: a connection to
// one is refused at once. Each port was free a moment ago.
func closedURLs(n int) ([]string, error) {
	var out []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		out = append(out, "http://"+ln.Addr().String())
		ln.Close()
	}
	return out, nil
}

// regHost is one AGENTS_FILE entry.
type regHost struct{ name, url, token, alive string }

// writeAgentsFile writes hosts as an AGENTS_FILE with inline tokens, mode
// 0600 (the bridge refuses inline tokens in a file others can read).
func writeAgentsFile(path string, hosts []regHost) error {
	var b strings.Builder
	b.WriteString("hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "  - name: %s\n    url: %s\n    token: %q\n    labels: {role: bench, alive: %q}\n", h.name, h.url, h.token, h.alive)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// --- one fan-out ---
