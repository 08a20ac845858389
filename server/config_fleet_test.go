package server_test

import (
	"errors"
	"testing"

	"github.com/pensados/sentinelx-mcp/server"
)

// TestFleetConfig: AGENTS_FILE replaces SENTINELX_TOKEN, and the fleet
// settings are bounded with an error naming the variable.
func TestFleetConfig(t *testing.T) {
	base := map[string]string{
		"OIDC_ISSUER": "https://auth.example.com", "RESOURCE_URL": "https://sentinelx.example.com",
		"AGENTS_FILE": "/etc/sentinelx-mcp/agents.yaml",
	}
	load := func(extra map[string]string) error {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		_, err := server.LoadConfig(func(k string) string { return env[k] })
		return err
	}
	if err := load(nil); err != nil {
		t.Fatalf("AGENTS_FILE without SENTINELX_TOKEN: %v", err)
	}
	for _, tc := range []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"AGENTS_FILE": ""}, "SENTINELX_TOKEN"},
		{map[string]string{"FANOUT_CONCURRENCY": "0"}, "FANOUT_CONCURRENCY"},
		{map[string]string{"FANOUT_CONCURRENCY": "257"}, "FANOUT_CONCURRENCY"},
		{map[string]string{"UPSTREAM_MAX_CONCURRENCY_PER_HOST": "0"}, "UPSTREAM_MAX_CONCURRENCY_PER_HOST"},
		{map[string]string{"AGENT_DOWN_AFTER": "0"}, "AGENT_DOWN_AFTER"},
		{map[string]string{"READY_MIN_HOSTS": "-1"}, "READY_MIN_HOSTS"},
		{map[string]string{"AGENT_PROBE_INTERVAL": "1ms"}, "AGENT_PROBE_INTERVAL"},
	} {
		err := load(tc.env)
		var ce *server.ConfigError
		if !errors.As(err, &ce) || ce.Var != tc.wantVar {
			t.Errorf("%v: error %v, want one naming %s", tc.env, err, tc.wantVar)
		}
	}
}
