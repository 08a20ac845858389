package doctor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/fleet"
)

// maxHostChecks is how many failing hosts get a check line of their own;
// the rest are counted in the summary, so a 200-host registry with a
// dead rack still gives a report a person reads.
const maxHostChecks = 20

// probeParallel bounds the agents probed at once.
const probeParallel = 16

// checkAgentsFile loads AGENTS_FILE as serve would and probes every host
// with its own token: one summary check, then one check per failing host.
func (r *run) checkAgentsFile(ctx context.Context) []Check {
	sum := Check{Name: "agents file"}
	reg, err := fleet.Load(r.cfg.AgentsFile, fleet.Options{
		Getenv: r.o.Getenv,
		Client: upstream.Options{Timeout: min(time.Duration(r.cfg.UpstreamTimeout), r.timeout)},
	})
	if err != nil {
		sum.Status, sum.Detail = StatusFail, err.Error()
		sum.Fix = "correct the file (docs/fleet.md has its format); serve refuses to start with it"
		return []Check{sum}
	}
	hosts := reg.Hosts()
	fails := make([]Check, len(hosts))
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	sem := make(chan struct{}, probeParallel)
	var wg sync.WaitGroup
	for i, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			if _, err := h.Client.Probe(ctx); err != nil {
				fails[i] = Check{Name: "agent " + h.Name, Status: StatusFail, Detail: err.Error(),
					Fix: "start the agent on " + h.Name + ", or correct its url and token in AGENTS_FILE"}
			}
		})
	}
	wg.Wait()
	var out []Check
	var names []string
	for _, c := range fails {
		if c.Name == "" {
			continue
		}
		names = append(names, strings.TrimPrefix(c.Name, "agent "))
		if len(out) < maxHostChecks {
			out = append(out, c)
		}
	}
	up := len(hosts) - len(names)
	sum.Detail = fmt.Sprintf("%s: %d hosts, %d answer GET /state with their own token", r.cfg.AgentsFile, len(hosts), up)
	switch {
	case len(names) == 0:
		sum.Status = StatusPass
	case up >= r.cfg.ReadyMinHosts:
		sum.Status = StatusWarn
		sum.Detail += "; not answering: " + strings.Join(names[:min(len(names), maxHostChecks)], ", ")
		sum.Fix = "the bridge serves the others and fails calls to these at once once they are marked down"
	default:
		sum.Status = StatusFail
		sum.Detail += fmt.Sprintf("; READY_MIN_HOSTS is %d, so /readyz will report not ready", r.cfg.ReadyMinHosts)
		sum.Fix = "start the agents, or correct their urls and tokens in AGENTS_FILE"
	}
	for i := range out {
		out[i].Status = sum.Status // a host down is only fatal when too few answer
	}
	if len(names) > maxHostChecks {
		out = append(out, Check{Name: "agents not shown", Status: StatusWarn, Detail: fmt.Sprintf("%d more hosts do not answer", len(names)-maxHostChecks)})
	}
	return append([]Check{sum}, out...)
}
