package server

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"time"

	"github.com/pensados/sentinelx-mcp/middleware"
)

// validateLimits checks the variables that bound anonymous work and
// long-lived streams.
func (c Config) validateLimits() error {
	if _, bad := middleware.ParseTrustedProxies(c.TrustedProxies); bad != "" {
		return &ConfigError{"TRUSTED_PROXIES", fmt.Sprintf("want CIDR prefixes or addresses like 127.0.0.1/32,10.0.0.0/8,::1 (or none), got %q", bad)}
	}
	if c.MaxBatch < 1 {
		return &ConfigError{"MCP_MAX_BATCH", "want a whole number of at least 1"}
	}
	if c.MaxResponseBytes < 64<<10 {
		return &ConfigError{"MCP_MAX_RESPONSE_BYTES", "want a byte count of at least 65536"}
	}
	if c.AnonRateLimit < 0 || math.IsNaN(c.AnonRateLimit) || math.IsInf(c.AnonRateLimit, 0) {
		return &ConfigError{"ANON_RATE_LIMIT", "want messages per second per client address, 0 to disable"}
	}
	if burst := max(math.Ceil(2*c.AnonRateLimit), 1); c.AnonRateLimit > 0 && burst < float64(c.MaxBatch) {
		return &ConfigError{"ANON_RATE_LIMIT", fmt.Sprintf("its burst (twice the rate) must hold a whole batch of MCP_MAX_BATCH=%d messages", c.MaxBatch)}
	}
	if c.MaxStreams < 1 {
		return &ConfigError{"MCP_MAX_STREAMS", "want a whole number of at least 1"}
	}
	if c.MaxStreamsPerClient < 1 || c.MaxStreamsPerClient > c.MaxStreams {
		return &ConfigError{"MCP_MAX_CLIENT_STREAMS", fmt.Sprintf("want a whole number between 1 and MCP_MAX_STREAMS (%d)", c.MaxStreams)}
	}
	return nil
}

// trustedProxies is TRUSTED_PROXIES parsed (validate has checked it).
func (c Config) trustedProxies() []netip.Prefix {
	p, _ := middleware.ParseTrustedProxies(c.TrustedProxies)
	return p
}

// anonLimits is the per-client-address part of the /mcp chain, after the
// token is known: the anonymous message rate, then the stream caps.
func (a *app) anonLimits() func(http.Handler) http.Handler {
	anon := middleware.AnonLimit(middleware.AnonLimitOptions{
		Rate: a.cfg.AnonRateLimit, OnLimited: a.metrics.RateLimited, Logger: a.log,
	})
	streams := middleware.StreamLimit(middleware.StreamOptions{
		Max: a.cfg.MaxStreams, PerClient: a.cfg.MaxStreamsPerClient, Idle: time.Duration(a.cfg.StreamIdleTimeout),
		OnLimited: a.metrics.RateLimited, Logger: a.log,
	})
	return func(next http.Handler) http.Handler { return anon(streams(next)) }
}
