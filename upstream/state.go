package upstream

import (
	"context"
	"net/http"
	"time"
)

// State is GET /state (UPSTREAM.md §4.1). The last_* fields are null until
// the agent has run something, hence pointers.
type State struct {
	Uptime          string  `json:"uptime"`
	LastCommand     *string `json:"last_command"`
	LastOutput      *string `json:"last_output"`
	LastStatus      *string `json:"last_status"`
	LastUpdate      *string `json:"last_update"`
	TotalExecutions int     `json:"total_executions"`
	BlockedCount    int     `json:"blocked_count"`
	ErrorCount      int     `json:"error_count"`
	Body
}

// State fetches the agent's runtime counters.
func (c *Client) State(ctx context.Context) (*State, error) {
	return fetch[State](ctx, c, call{method: http.MethodGet, path: "/state"})
}

// probeTimeout keeps readiness checks snappy even when Options.Timeout is
// long; a busy agent (it serializes requests) fails readiness, which is
// the truth.
const probeTimeout = 5 * time.Second

// Probe checks that the agent answers an authenticated GET /state (it has
// no /health) and returns the round-trip time. A wrong token fails with
// an *Error of KindHTTP and Status 403, so readiness reports it.
func (c *Client) Probe(ctx context.Context) (time.Duration, error) {
	t := min(c.timeout, probeTimeout)
	start := time.Now()
	_, err := c.do(ctx, call{method: http.MethodGet, path: "/state", timeout: t}, nil)
	return time.Since(start), err
}
