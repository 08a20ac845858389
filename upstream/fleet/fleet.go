// Package fleet is the host registry: the SentinelX Core agents one bridge
// fronts (AGENTS_FILE), each with its own client, token, labels, timeout,
// concurrency cap and health. Without AGENTS_FILE the registry holds the
// one agent of SENTINELX_URL under the name [DefaultHost] and behaves as
// the single-host bridge always did (no down-marking, no host argument
// required).
//
// A [Registry] is immutable: a reload builds a new one and swaps it in
// ([Store]), so a call keeps the registry (and the *Host) it started with.
// A host whose name, URL and token did not change keeps its *Host across
// reloads: its keep-alive pool, health and slots carry over.
package fleet

import (
	"slices"

	"github.com/pensados/sentinelx-mcp/upstream"
)

// DefaultHost names the single agent of SENTINELX_URL when no AGENTS_FILE
// is configured.
const DefaultHost = "default"

// Host is one agent in the registry.
type Host struct {
	// Name is unique in the registry, lower-case DNS label style.
	Name string
	// Labels come from the file (role: web, env: prod); never nil.
	Labels map[string]string
	// Client calls this host's agent with this host's token only.
	Client *upstream.Client

	url string // for the server log and the status page; never sent to MCP clients
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
