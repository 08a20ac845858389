package server

import (
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// Metrics holds the Prometheus collectors of one server in a private
// registry (never the default one, so two servers in one test process do
// not collide). Every label has a bounded set of values: routes are chi
// patterns, tools come from the tool table, verification reasons are coarse
// buckets, and nothing carries a subject or a token.
//
// A nil *Metrics is valid and records nothing.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	inFlight      prometheus.Gauge
	toolCalls     *prometheus.CounterVec
	toolDuration  *prometheus.HistogramVec
	upstream      *prometheus.HistogramVec
	verifications *prometheus.CounterVec
	keyFetches    *prometheus.CounterVec
	rateLimited   prometheus.Counter
	agentInFlight prometheus.Gauge
	hostCalls     *prometheus.CounterVec // AGENTS_FILE only; host labels come from the registry
}

// NewMetrics builds the collectors and registers them, with the Go runtime
// and process collectors, on a fresh registry.
func NewMetrics(version string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinelx_http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sentinelx_http_requests_in_flight",
			Help: "HTTP requests being served now (SSE streams included).",
		}),
		toolCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinelx_tool_calls_total",
			Help: "MCP tool calls that reached a tool handler, by tool and outcome (ok, invalid_input, busy, error or the upstream failure kind).",
		}, []string{"tool", "outcome"}),
		toolDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sentinelx_tool_call_duration_seconds",
			Help:    "Time spent in tool handlers, waiting for an upstream slot included.",
			Buckets: latencyBuckets(),
		}, []string{"tool"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sentinelx_upstream_request_duration_seconds",
			Help:    "Latency of the SentinelX Core agent as seen by tools that call it, by tool.",
			Buckets: latencyBuckets(),
		}, []string{"tool"}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinelx_token_verifications_total",
			Help: "Bearer token verifications, by outcome (valid, invalid) and coarse reason.",
		}, []string{"outcome", "reason"}),
		keyFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinelx_jwks_fetches_total",
			Help: "Fetches of the IdP's key set (startup, periodic refresh and unknown-kid refetch), by outcome.",
		}, []string{"outcome"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sentinelx_rate_limited_total",
			Help: "Requests refused with 429: the per-subject rate limit, the anonymous per-address limit, or a stream cap.",
		}),
		agentInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "sentinelx_upstream_in_flight",
			Help: "Agent calls holding one of the UPSTREAM_MAX_CONCURRENCY slots.",
		}),
		hostCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sentinelx_host_calls_total",
			Help: "With AGENTS_FILE: agent-reaching tool calls (each host of a fan-out counted once), by registry host and outcome.",
		}, []string{"host", "outcome"}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sentinelx_build_info",
		Help:        "Always 1; labels carry the version and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	build.Set(1)
	m.reg.MustRegister(m.requests, m.inFlight, m.toolCalls, m.toolDuration, m.upstream,
		m.verifications, m.keyFetches, m.rateLimited, m.agentInFlight, m.hostCalls, build,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// latencyBuckets span a 2 ms state read to a 5-minute script run.
func latencyBuckets() []float64 {
	return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}
}

// Registry is where the collectors live, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus text format. A collector
// that fails (the process collector cannot read /proc/stat under the
// unit's ProcSubset=pid) costs its own series, not the whole scrape.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, ErrorHandling: promhttp.ContinueOnError})
}

// Instrument counts requests by chi route pattern and status, and tracks
// the in-flight gauge. It must wrap the router (r.Use on the root) so the
// pattern is known once the request has been routed; unmatched paths are
// counted as "other" so scanners cannot grow the label set.
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	if m == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		defer func() {
			route := "other"
			if rc := chi.RouteContext(r.Context()); rc != nil {
				if p := rc.RoutePattern(); p != "" && p != "/*" {
					route = p
				}
			}
			code := ww.Status()
			if code == 0 {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		}()
		next.ServeHTTP(ww, r)
	})
}

// ToolCall records one finished tool call. agent says whether the tool
// called the SentinelX Core agent, in which case d is also its latency.
func (m *Metrics) ToolCall(tool, outcome string, d time.Duration, agent bool) {
	if m == nil {
		return
	}
	m.toolCalls.WithLabelValues(tool, outcome).Inc()
	m.toolDuration.WithLabelValues(tool).Observe(d.Seconds())
	if agent && outcome != "busy" && outcome != "invalid_input" {
		m.upstream.WithLabelValues(tool).Observe(d.Seconds())
	}
}

// TokenVerified records one verification; see [oidcverify.Outcome].
func (m *Metrics) TokenVerified(outcome, reason string) {
	if m == nil {
		return
	}
	m.verifications.WithLabelValues(outcome, reason).Inc()
}

// KeysFetched records one key-set fetch, outcome "ok" or "error".
func (m *Metrics) KeysFetched(outcome string) {
	if m == nil {
		return
	}
	m.keyFetches.WithLabelValues(outcome).Inc()
}

// RateLimited records one request refused by [middleware.RateLimit],
// [middleware.AnonLimit] or [middleware.StreamLimit].
func (m *Metrics) RateLimited() {
	if m == nil {
		return
	}
	m.rateLimited.Inc()
}

// UpstreamSlot records that an agent call took a concurrency slot; call
// the returned func when it gives the slot back.
func (m *Metrics) UpstreamSlot() (done func()) {
	if m == nil {
		return func() {}
	}
	m.agentInFlight.Inc()
	return m.agentInFlight.Dec
}

// HostCall records one agent-reaching call on a multi-host registry. host
// is a registry name, never caller input, so the label set is bounded by
// AGENTS_FILE.
func (m *Metrics) HostCall(host, outcome string, _ time.Duration) {
	if m == nil {
		return
	}
	m.hostCalls.WithLabelValues(host, outcome).Inc()
}

// KeepHosts drops the per-host series of hosts no longer in the registry,
// so a reload that removes hosts does not keep their series forever.
func (m *Metrics) KeepHosts(names []string) {
	if m == nil {
		return
	}
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { m.hostCalls.Collect(ch); close(ch) }()
	var gone []string
	for mt := range ch {
		var pb dto.Metric
		if mt.Write(&pb) != nil {
			continue
		}
		for _, lp := range pb.GetLabel() {
			if lp.GetName() == "host" && !keep[lp.GetValue()] {
				gone = append(gone, lp.GetValue())
			}
		}
	}
	for _, h := range gone {
		m.hostCalls.DeletePartialMatch(prometheus.Labels{"host": h})
	}
}
