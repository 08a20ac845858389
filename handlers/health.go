package handlers

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/pensados/sentinelx-mcp/web"
)

// Health reports liveness: the process is up and serving. It never calls
// the agent or the IdP, so an orchestrator does not restart a healthy
// bridge because a dependency is down (that is what [Ready] is for).
// Browsers get the same facts as a page.
func Health(version string, started time.Time) http.Handler {
	return health(version, started, time.Now)
}

func health(version string, started time.Time, now func() time.Time) http.Handler {
	type response struct {
		Status  string `json:"status"`
		Version string `json:"version"`
		Uptime  string `json:"uptime"`
		Seconds int64  `json:"uptime_seconds"`
	}
	type view struct {
		page
		response
		Uptime, StartedAt, JSON string
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := now()
		up := t.Sub(started)
		res := response{"ok", version, up.Round(time.Second).String(), int64(up.Seconds())}
		w.Header().Add("Vary", "Accept")
		if !prefersHTML(r.Header) {
			writeJSON(w, http.StatusOK, res)
			return
		}
		b, _ := encodeJSON(res)
		web.Render(w, http.StatusOK, "health.html", view{
			page:      page{Title: "Health", Current: "healthz", Now: stamp(t)},
			response:  res,
			Uptime:    humanDuration(up),
			StartedAt: stamp(started),
			JSON:      string(b),
		})
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
	return ready(timeout, time.Now, checks...)
}

func ready(timeout time.Duration, now func() time.Time, checks ...Check) http.Handler {
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
		w.Header().Add("Vary", "Accept")
		if !prefersHTML(r.Header) {
			writeJSON(w, status, res)
			return
		}
		// The page shows URLs without userinfo; so does its copy of the JSON.
		v := readyView{
			page:   page{Title: "Readiness", Current: "readyz", Now: stamp(now())},
			Status: res.Status,
			Ready:  status == http.StatusOK,
			Code:   status,
		}
		for _, name := range slices.Sorted(maps.Keys(res.Checks)) {
			c := res.Checks[name]
			c.Detail = redactDetail(c.Detail)
			res.Checks[name] = c
			v.Checks = append(v.Checks, readyCheckView{
				Name: name, Label: checkLabel(name), OK: c.OK, Error: c.Error, Detail: detailRows(c.Detail),
			})
		}
		b, _ := encodeJSON(res)
		v.JSON = string(b)
		web.Render(w, status, "ready.html", v)
	})
}

// writeJSON sets headers before the status line (headers set after
// WriteHeader are lost) and encodes v.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := encodeJSON(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b)
}

// encodeJSON is the one JSON encoding of these documents: indented, with a
// final newline.
func encodeJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
