// Package fleet is the host registry: the SentinelX Core agents one bridge
// fronts (AGENTS_FILE), each with its own client, token, labels, timeout,
// concurrency cap and health. Without AGENTS_FILE the registry holds the
// one agent of SENTINELX_URL under the name [DefaultHost] and behaves as
// the single-host bridge always did (no down-marking, no host argument
// required).
//
// A [Registry] is immutable: a reload builds a new one and swaps it in
// ([Store]), so a call keeps the registry (and the *Host) it started with.
// A host whose name, URL, token, timeout and labels did not change keeps
// its *Host across reloads; one whose labels alone changed gets a new
// *Host on the same client, health and slots. Either way its keep-alive
// pool, health and slots carry over.
package fleet

import (
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
)

// DefaultHost names the single agent of SENTINELX_URL when no AGENTS_FILE
// is configured.
const DefaultHost = "default"

// Defaults for [Options].
const (
	DefaultMaxPerHost    = 8
	DefaultDownAfter     = 3
	DefaultProbeInterval = 15 * time.Second
	DefaultPoll          = 2 * time.Second
)

// Options configures [Load], [Parse] and [Open]. The zero value is usable
// with a Path.
type Options struct {
	// Path is AGENTS_FILE, for [Open].
	Path string
	// Getenv resolves token_env; nil means os.Getenv. Tests pass a map.
	Getenv func(string) string
	// Client holds the defaults for every host's client (Timeout,
	// MaxResponseBytes, Logger). BaseURL, Token and Name are set per host,
	// and a host's timeout: replaces Timeout.
	Client upstream.Options
	// MaxPerHost caps the calls in flight to one agent, which serializes
	// requests: more would only queue there, holding bridge slots that
	// other hosts could use. 0 means DefaultMaxPerHost.
	MaxPerHost int
	// DownAfter is how many consecutive connect failures mark a host
	// down, so that calls to it fail at once instead of each waiting on a
	// dead address. 0 means DefaultDownAfter.
	DownAfter int
	// ProbeInterval is how often a healthy host is probed (with jitter, so
	// a fleet's probes spread out). A failing host is probed after 1 s,
	// 2 s, 4 s... capped at ProbeInterval. 0 means DefaultProbeInterval.
	ProbeInterval time.Duration
	// Poll is how often AGENTS_FILE and the token files it names are
	// checked for changes. 0 means DefaultPoll.
	Poll time.Duration
	// Reload reloads the file at once on every value (SIGHUP).
	Reload <-chan os.Signal
	// Logger receives reloads, their failures and down/up transitions.
	// Nil discards.
	Logger *slog.Logger
}

// withDefaults fills in the zero fields.
func (o Options) withDefaults() Options {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.MaxPerHost <= 0 {
		o.MaxPerHost = DefaultMaxPerHost
	}
	if o.DownAfter <= 0 {
		o.DownAfter = DefaultDownAfter
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = DefaultProbeInterval
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Host is one agent in the registry. Its exported fields never change
// after the registry is built; health and slots live in state, which a
// reload hands on to the next *Host of the same agent.
type Host struct {
	// Name is unique in the registry, lower-case DNS label style.
	Name string
	// Labels come from the file (role: web, env: prod); never nil.
	Labels map[string]string
	// Client calls this host's agent with this host's token only.
	Client *upstream.Client
	// Timeout is the host's timeout: from the file (0: the client
	// default); the Client is built with it.
	Timeout time.Duration

	url string // for the server log and the status page; never sent to MCP clients
	st  *state // health, slots; shared by the *Hosts of one agent across reloads
}

// URL returns the agent address from the registry (operators' eyes only:
// the status page and the log).
func (h *Host) URL() string { return h.url }

// Registry is one loaded set of hosts, sorted by name. It is never
// modified after it is built.
type Registry struct {
	hosts  []*Host
	byName map[string]*Host
	single bool
}

// Single reports whether this is the one-agent registry of SENTINELX_URL
// (no AGENTS_FILE): tools keep their single-host schemas and behaviour.
func (r *Registry) Single() bool { return r.single }

// Hosts returns the hosts sorted by name. The slice must not be modified.
func (r *Registry) Hosts() []*Host { return r.hosts }

// Len is the number of hosts.
func (r *Registry) Len() int { return len(r.hosts) }

// Names returns the host names, sorted.
func (r *Registry) Names() []string {
	out := make([]string, len(r.hosts))
	for i, h := range r.hosts {
		out[i] = h.Name
	}
	return out
}

// Lookup finds a host by exact name.
func (r *Registry) Lookup(name string) (*Host, bool) {
	h, ok := r.byName[name]
	return h, ok
}

// newRegistry indexes hosts (sorted by name here; names are unique, the
// file loader checks that).
func newRegistry(hosts []*Host, single bool) *Registry {
	hosts = slices.Clone(hosts)
	slices.SortFunc(hosts, func(a, b *Host) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	r := &Registry{hosts: hosts, byName: make(map[string]*Host, len(hosts)), single: single}
	for _, h := range hosts {
		if h.Labels == nil {
			h.Labels = map[string]string{}
		}
		r.byName[h.Name] = h
	}
	return r
}
