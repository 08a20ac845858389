package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// Health reports liveness: the process is up and serving. It never calls
// the agent or the IdP, so an orchestrator does not restart a healthy
// bridge because a dependency is down (that is what [Ready] is for).
func Health(version string, started time.Time) http.Handler {
	type response struct {
		Status  string `json:"status"`
		Version string `json:"version"`
		Uptime  string `json:"uptime"`
		Seconds int64  `json:"uptime_seconds"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		up := time.Since(started)
		writeJSON(w, http.StatusOK, response{"ok", version, up.Round(time.Second).String(), int64(up.Seconds())})
	})
}

// Check is one readiness dependency.
type Check struct {
	Name string
	// Run returns nil when the dependency is usable, and detail worth
	// showing an operator (latency, key count) either way.
	Run func(ctx context.Context) (detail map[string]any, err error)
}

// Ready reports 200 only when every check passes: the agent answers and
// verification keys are loaded. Checks run concurrently, each bounded by
// timeout, so a hung dependency makes /readyz slow by at most that much.
func Ready(timeout time.Duration, checks ...Check) http.Handler {
	type result struct {
		OK     bool           `json:"ok"`
		Error  string         `json:"error,omitempty"`
		Detail map[string]any `json:"detail,omitempty"`
	}
	type response struct {
		Status string            `json:"status"`
		Checks map[string]result `json:"checks"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		res := response{Status: "ready", Checks: make(map[string]result, len(checks))}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range checks {
			wg.Go(func() {
				detail, err := c.Run(ctx)
				rr := result{OK: err == nil, Detail: detail}
				if err != nil {
					rr.Error = err.Error()
				}
				mu.Lock()
				res.Checks[c.Name] = rr
				mu.Unlock()
			})
		}
		wg.Wait()
		status := http.StatusOK
		for _, c := range res.Checks {
			if !c.OK {
				res.Status = "not ready"
				status = http.StatusServiceUnavailable
			}
		}
		writeJSON(w, status, res)
	})
}

// writeJSON sets headers before the status line (headers set after
// WriteHeader are lost) and encodes v.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
