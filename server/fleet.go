package server

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/pensados/sentinelx-mcp/handlers"
	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// openHosts builds the host registry: AGENTS_FILE when set (watched and
// probed until ctx ends), else the one agent of SENTINELX_URL. A file that
// does not load stops startup; a later bad edit keeps the hosts in force.
func (a *app) openHosts(ctx context.Context, poll time.Duration, reload <-chan os.Signal) error {
	if a.cfg.AgentsFile == "" {
		a.hosts = fleet.NewSingle(a.up)
		return nil
	}
	st, err := fleet.Open(ctx, fleet.Options{
		Path:          a.cfg.AgentsFile,
		Client:        upstream.Options{Timeout: time.Duration(a.cfg.UpstreamTimeout), Logger: a.log},
		MaxPerHost:    a.cfg.AgentMaxPerHost,
		DownAfter:     a.cfg.AgentDownAfter,
		ProbeInterval: time.Duration(a.cfg.AgentProbeInterval),
		Poll:          poll,
		Reload:        reload,
		Logger:        a.log.With("component", "hosts"),
	})
	if err != nil {
		return &ConfigError{"AGENTS_FILE", err.Error()}
	}
	a.hosts = st // the store logs what it loaded
	st.OnChange(func(reg *fleet.Registry) { a.metrics.KeepHosts(reg.Names()) })
	return nil
}

// splitReload hands each reload request to every consumer (the policy and
// the host registry each watch their own file): a signal channel has one
// reader per value.
func splitReload(ctx context.Context, in <-chan os.Signal, n int) []<-chan os.Signal {
	outs := make([]chan os.Signal, n)
	ro := make([]<-chan os.Signal, n)
	for i := range outs {
		outs[i] = make(chan os.Signal, 1)
		ro[i] = outs[i]
	}
	if in == nil {
		return ro
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case sig := <-in:
				for _, o := range outs {
					select {
					case o <- sig:
					default: // a reload is already pending there
					}
				}
			}
		}
	}()
	return ro
}

// checkHosts is the /readyz check with AGENTS_FILE: ready when the
// registry loaded and at least READY_MIN_HOSTS hosts answered their last
// probe. It reads the probes' results and probes nothing itself, so a
// readiness poll costs no agent a call however many hosts there are.
func (a *app) checkHosts(context.Context) (map[string]any, error) {
	reg := a.hosts.Registry()
	st := a.hosts.Status()
	hosts := make(map[string]any, reg.Len())
	up := 0
	for _, h := range reg.Hosts() {
		hs := h.Status()
		d := map[string]any{"reachable": hs.Up()}
		if hs.Up() {
			up++
			d["latency_ms"] = hs.Latency.Milliseconds()
		}
		if hs.LastError != "" {
			d["error"] = hs.LastError
		}
		if hs.Down {
			d["down_since"] = hs.DownSince.UTC().Format(time.RFC3339)
		}
		hosts[h.Name] = d
	}
	detail := map[string]any{"file": st.Path, "hosts": hosts, "reachable": up, "total": reg.Len(), "min": a.cfg.ReadyMinHosts}
	if st.LastError != "" {
		detail["reload_error"] = st.LastError
	}
	if up < a.cfg.ReadyMinHosts {
		return detail, fmt.Errorf("%d of %d hosts reachable, READY_MIN_HOSTS is %d", up, reg.Len(), a.cfg.ReadyMinHosts)
	}
	return detail, nil
}

// hostsInfo is the status page's hosts table; nil without AGENTS_FILE
// (the page then shows the one agent as before).
func (a *app) hostsInfo() *handlers.HostsInfo {
	if a.cfg.AgentsFile == "" {
		return nil
	}
	st := a.hosts.Status()
	out := &handlers.HostsInfo{File: st.Path, LoadedAt: st.LoadedAt, LastError: st.LastError, LastErrorAt: st.LastErrorAt}
	for _, h := range a.hosts.Registry().Hosts() {
		hs := h.Status()
		out.Hosts = append(out.Hosts, handlers.HostInfo{
			Name: h.Name, Labels: h.Labels, Reachable: hs.Up(), Down: hs.Down,
			DownSince: hs.DownSince, Latency: hs.Latency, AgentVersion: hs.AgentVersion, LastError: hs.LastError,
			InFlight: hs.InFlight, CheckedAt: hs.CheckedAt,
		})
	}
	return out
}
