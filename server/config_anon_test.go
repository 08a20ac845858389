package server_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/server"
)

// TestLoadConfigLimits: the variables that bound anonymous work and
// streams have sane defaults, and a bad value stops startup naming it.
func TestLoadConfigLimits(t *testing.T) {
	base := map[string]string{
		"SENTINELX_TOKEN": "t",
		"OIDC_ISSUER":     "https://auth.example.com",
		"RESOURCE_URL":    "https://sentinelx.example.com",
	}
	load := func(extra map[string]string) (server.Config, error) {
		return server.LoadConfig(func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		})
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.TrustedProxies, ",") != "127.0.0.0/8,::1" || c.MaxBatch != 10 || c.MaxResponseBytes != 32<<20 ||
		c.AnonRateLimit != 20 || c.MaxStreams != 512 || c.MaxStreamsPerClient != 32 || time.Duration(c.StreamIdleTimeout) != 5*time.Minute {
		t.Errorf("defaults: %q %d %d %g %d %d %s", c.TrustedProxies, c.MaxBatch, c.MaxResponseBytes, c.AnonRateLimit,
			c.MaxStreams, c.MaxStreamsPerClient, c.StreamIdleTimeout)
	}
	for _, ok := range []map[string]string{
		{"TRUSTED_PROXIES": "none"},
		{"TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16,fd00::/8"},
		{"ANON_RATE_LIMIT": "0"},
		{"MCP_STREAM_IDLE_TIMEOUT": "90"},
	} {
		if _, err := load(ok); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, tc := range []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"TRUSTED_PROXIES": "nginx.local"}, "TRUSTED_PROXIES"},
		{map[string]string{"TRUSTED_PROXIES": "none,127.0.0.1"}, "TRUSTED_PROXIES"},
		{map[string]string{"TRUSTED_PROXIES": " , "}, "TRUSTED_PROXIES"},
		{map[string]string{"MCP_MAX_BATCH": "0"}, "MCP_MAX_BATCH"},
		{map[string]string{"MCP_MAX_BATCH": "many"}, "MCP_MAX_BATCH"},
		{map[string]string{"MCP_MAX_RESPONSE_BYTES": "1000"}, "MCP_MAX_RESPONSE_BYTES"},
		{map[string]string{"ANON_RATE_LIMIT": "-1"}, "ANON_RATE_LIMIT"},
		{map[string]string{"ANON_RATE_LIMIT": "2", "MCP_MAX_BATCH": "5"}, "ANON_RATE_LIMIT"},
		{map[string]string{"MCP_MAX_STREAMS": "0"}, "MCP_MAX_STREAMS"},
		{map[string]string{"MCP_MAX_CLIENT_STREAMS": "600"}, "MCP_MAX_CLIENT_STREAMS"},
		{map[string]string{"MCP_STREAM_IDLE_TIMEOUT": "soon"}, "MCP_STREAM_IDLE_TIMEOUT"},
	} {
		_, err := load(tc.env)
		var ce *server.ConfigError
		if !errors.As(err, &ce) || ce.Var != tc.wantVar {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.wantVar)
		}
	}
}
