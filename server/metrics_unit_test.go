package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/modelcontextprotocol/go-sdk/auth"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/pensados/sentinelx-mcp/middleware/oidcverify"
)

// verifyReject is a rejection as the verifier words it, for the reason
// buckets of [oidcverify.Outcome].
func verifyReject(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{auth.ErrInvalidToken}, args...)...)
}

// scrape parses the handler's output with the Prometheus text parser.
func scrape(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return fams
}

// MetricSample returns the value of the sample of family name whose labels
// include want (a histogram's sample count), or -1 when there is none.
// Exported for the external tests (metrics_test.go), as an export_test
// helper: it is compiled only into the test binary.
func MetricSample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestMetricsRecordAndScrape(t *testing.T) {
	m := NewMetrics("v1.2.3")
	r := chi.NewRouter()
	r.Use(m.Instrument)
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {})
	r.Post("/mcp", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/healthz", nil),
		httptest.NewRequest(http.MethodGet, "/healthz", nil),
		httptest.NewRequest(http.MethodPost, "/mcp", nil),
		httptest.NewRequest(http.MethodGet, "/random-scanner-path-1", nil),
		httptest.NewRequest(http.MethodGet, "/random-scanner-path-2", nil),
	} {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	m.ToolCall("sentinel_state", "ok", 20*time.Millisecond, true)
	m.ToolCall("sentinel_state", "http_error", 30*time.Millisecond, true)
	m.ToolCall("sentinel_exec", "busy", time.Second, true)
	m.ToolCall("ping", "ok", time.Millisecond, false)
	m.TokenVerified(oidcverify.Outcome(verifyReject("expired at x")))
	m.TokenVerified("valid", "jwt")
	m.KeysFetched("ok")
	m.RateLimited()
	done := m.UpstreamSlot()

	fams := scrape(t, m)
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sentinelx_http_requests_total", map[string]string{"route": "/healthz", "code": "200"}, 2},
		{"sentinelx_http_requests_total", map[string]string{"route": "/mcp", "code": "401"}, 1},
		{"sentinelx_http_requests_total", map[string]string{"route": "other", "code": "404"}, 2},
		{"sentinelx_http_requests_in_flight", nil, 0},
		{"sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_state", "outcome": "ok"}, 1},
		{"sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_state", "outcome": "http_error"}, 1},
		{"sentinelx_tool_calls_total", map[string]string{"tool": "sentinel_exec", "outcome": "busy"}, 1},
		{"sentinelx_upstream_request_duration_seconds", map[string]string{"tool": "sentinel_state"}, 2},
		{"sentinelx_upstream_request_duration_seconds", map[string]string{"tool": "sentinel_exec"}, -1},
		{"sentinelx_upstream_request_duration_seconds", map[string]string{"tool": "ping"}, -1},
		{"sentinelx_tool_call_duration_seconds", map[string]string{"tool": "ping"}, 1},
		{"sentinelx_token_verifications_total", map[string]string{"outcome": "invalid", "reason": "expired"}, 1},
		{"sentinelx_token_verifications_total", map[string]string{"outcome": "valid", "reason": "jwt"}, 1},
		{"sentinelx_jwks_fetches_total", map[string]string{"outcome": "ok"}, 1},
		{"sentinelx_rate_limited_total", nil, 1},
		{"sentinelx_upstream_in_flight", nil, 1},
		{"sentinelx_build_info", map[string]string{"version": "v1.2.3"}, 1},
	}
	for _, c := range checks {
		if got := MetricSample(fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if fams["go_goroutines"] == nil || fams["process_open_fds"] == nil {
		t.Error("Go runtime or process collector missing")
	}
	done()
	if got := MetricSample(scrape(t, m), "sentinelx_upstream_in_flight", nil); got != 0 {
		t.Errorf("in-flight after release = %v", got)
	}
}

func TestMetricsNilSafe(t *testing.T) {
	var m *Metrics
	m.ToolCall("x", "ok", 0, true)
	m.TokenVerified("valid", "jwt")
	m.KeysFetched("ok")
	m.RateLimited()
	m.UpstreamSlot()()
	h := m.Instrument(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
}

// Two servers in one process must not share or collide on collectors.
func TestMetricsPrivateRegistry(t *testing.T) {
	a, b := NewMetrics("a"), NewMetrics("b")
	a.RateLimited()
	if got := MetricSample(scrape(t, b), "sentinelx_rate_limited_total", nil); got != 0 {
		t.Fatalf("b sees a's counter: %v", got)
	}
}
