package server_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/server"
)

// TestLoadConfig: every bad variable stops startup with an error that names
// it and never echoes a secret (DESIGN "Configuration").
func TestLoadConfig(t *testing.T) {
	const (
		secretToken  = "s3cret-agent-token-value"
		secretClient = "s3cret-client-secret-value"
	)
	base := map[string]string{
		"SENTINELX_TOKEN": secretToken,
		"OIDC_ISSUER":     "https://auth.example.com/realms/sentinelx",
		"RESOURCE_URL":    "https://sentinelx.example.com",
	}
	tests := []struct {
		name    string
		env     map[string]string // merged over base; "" deletes
		wantVar string            // "" means success
		check   func(t *testing.T, c server.Config)
	}{
		{name: "defaults", check: func(t *testing.T, c server.Config) {
			if c.Port != 8098 || c.Host != "127.0.0.1" || c.UpstreamURL != "http://127.0.0.1:8091" {
				t.Errorf("port/host/upstream = %d %q %q", c.Port, c.Host, c.UpstreamURL)
			}
			if time.Duration(c.UpstreamTimeout) != 60*time.Second || c.MaxBodyBytes != 16<<20 || c.Stateful || c.AuthRequired {
				t.Errorf("defaults = %+v", c)
			}
			if c.MCPURL() != "https://sentinelx.example.com/mcp" || c.BaseURL() != "https://sentinelx.example.com" {
				t.Errorf("MCPURL %q BaseURL %q", c.MCPURL(), c.BaseURL())
			}
		}},
		{name: "missing SENTINELX_TOKEN", env: map[string]string{"SENTINELX_TOKEN": ""}, wantVar: "SENTINELX_TOKEN"},
		{name: "SENTINEL_TOKEN alias", env: map[string]string{"SENTINELX_TOKEN": "", "SENTINEL_TOKEN": "alias-value"}, check: func(t *testing.T, c server.Config) {
			if c.UpstreamToken != "alias-value" {
				t.Errorf("UpstreamToken = %q", c.UpstreamToken)
			}
		}},
		{name: "SENTINELX_TOKEN wins over the alias", env: map[string]string{"SENTINEL_TOKEN": "alias-value"}, check: func(t *testing.T, c server.Config) {
			if c.UpstreamToken != secretToken {
				t.Errorf("UpstreamToken = %q", c.UpstreamToken)
			}
		}},
		{name: "missing OIDC_ISSUER", env: map[string]string{"OIDC_ISSUER": ""}, wantVar: "OIDC_ISSUER"},
		{name: "OIDC_ISSUER not a URL", env: map[string]string{"OIDC_ISSUER": "auth.example.com"}, wantVar: "OIDC_ISSUER"},
		{name: "missing RESOURCE_URL", env: map[string]string{"RESOURCE_URL": ""}, wantVar: "RESOURCE_URL"},
		{name: "RESOURCE_URL http on a public host", env: map[string]string{"RESOURCE_URL": "http://sentinelx.example.com"}, wantVar: "RESOURCE_URL"},
		{name: "RESOURCE_URL http on localhost", env: map[string]string{"RESOURCE_URL": "http://localhost:8099"}},
		{name: "RESOURCE_URL http on 127.0.0.1", env: map[string]string{"RESOURCE_URL": "http://127.0.0.1:8099"}},
		{name: "RESOURCE_URL with a query", env: map[string]string{"RESOURCE_URL": "https://sentinelx.example.com/?a=b"}, wantVar: "RESOURCE_URL"},
		{name: "RESOURCE_URL ending in /mcp", env: map[string]string{"RESOURCE_URL": "https://sentinelx.example.com/mcp"}, check: func(t *testing.T, c server.Config) {
			if c.MCPURL() != "https://sentinelx.example.com/mcp" || c.BaseURL() != "https://sentinelx.example.com" {
				t.Errorf("MCPURL %q BaseURL %q", c.MCPURL(), c.BaseURL())
			}
		}},
		{name: "RESOURCE_URL with a prefix", env: map[string]string{"RESOURCE_URL": "https://example.com/sentinelx"}, check: func(t *testing.T, c server.Config) {
			if c.MCPURL() != "https://example.com/sentinelx/mcp" || c.BaseURL() != "https://example.com/sentinelx" {
				t.Errorf("MCPURL %q BaseURL %q", c.MCPURL(), c.BaseURL())
			}
		}},
		{name: "MCP_PORT not a number", env: map[string]string{"MCP_PORT": "eighty"}, wantVar: "MCP_PORT"},
		{name: "MCP_PORT out of range", env: map[string]string{"MCP_PORT": "70000"}, wantVar: "MCP_PORT"},
		{name: "MCP_PORT zero", env: map[string]string{"MCP_PORT": "0"}, wantVar: "MCP_PORT"},
		{name: "MCP_HOST not an address", env: map[string]string{"MCP_HOST": "example.com"}, wantVar: "MCP_HOST"},
		{name: "UPSTREAM_TIMEOUT bare seconds", env: map[string]string{"UPSTREAM_TIMEOUT": "60"}, check: wantTimeout(60 * time.Second)},
		{name: "UPSTREAM_TIMEOUT duration", env: map[string]string{"UPSTREAM_TIMEOUT": "90s"}, check: wantTimeout(90 * time.Second)},
		{name: "UPSTREAM_TIMEOUT minutes", env: map[string]string{"UPSTREAM_TIMEOUT": "2m"}, check: wantTimeout(2 * time.Minute)},
		{name: "UPSTREAM_TIMEOUT fractional seconds", env: map[string]string{"UPSTREAM_TIMEOUT": "1.5"}, check: wantTimeout(1500 * time.Millisecond)},
		{name: "UPSTREAM_TIMEOUT abc", env: map[string]string{"UPSTREAM_TIMEOUT": "abc"}, wantVar: "UPSTREAM_TIMEOUT"},
		{name: "UPSTREAM_TIMEOUT negative", env: map[string]string{"UPSTREAM_TIMEOUT": "-5s"}, wantVar: "UPSTREAM_TIMEOUT"},
		{name: "UPSTREAM_TIMEOUT zero", env: map[string]string{"UPSTREAM_TIMEOUT": "0"}, wantVar: "UPSTREAM_TIMEOUT"},
		{name: "LOG_FORMAT invalid", env: map[string]string{"LOG_FORMAT": "xml"}, wantVar: "LOG_FORMAT"},
		{name: "OIDC_EXPECTED_AUDIENCE set but blank", env: map[string]string{"OIDC_EXPECTED_AUDIENCE": " , "}, wantVar: "OIDC_EXPECTED_AUDIENCE"},
		{name: "OIDC_EXPECTED_AUDIENCE entries trimmed", env: map[string]string{"OIDC_EXPECTED_AUDIENCE": " https://a.example/mcp , ,https://b.example "},
			check: func(t *testing.T, c server.Config) {
				if len(c.Audiences) != 2 || c.Audiences[0] != "https://a.example/mcp" || c.Audiences[1] != "https://b.example" {
					t.Errorf("Audiences = %q", c.Audiences)
				}
			}},
		{name: "MCP_ALLOWED_ORIGINS not an origin", env: map[string]string{"MCP_ALLOWED_ORIGINS": "not an origin"}, wantVar: "MCP_ALLOWED_ORIGINS"},
		{name: "MCP_ALLOWED_ORIGINS with a path", env: map[string]string{"MCP_ALLOWED_ORIGINS": "https://app.example.com/x"}, wantVar: "MCP_ALLOWED_ORIGINS"},
		{name: "MCP_ALLOWED_ORIGINS null and an origin", env: map[string]string{"MCP_ALLOWED_ORIGINS": "null,http://localhost:6274"}},
		{name: "EDIT_UPLOAD_LOCAL_DIR missing", env: map[string]string{"EDIT_UPLOAD_LOCAL_DIR": "/nonexistent/dir"}, wantVar: "EDIT_UPLOAD_LOCAL_DIR"},
		{name: "LOG_FORMAT text", env: map[string]string{"LOG_FORMAT": "text"}},
		{name: "LOG_LEVEL invalid", env: map[string]string{"LOG_LEVEL": "loud"}, wantVar: "LOG_LEVEL"},
		{name: "MCP_AUTH_REQUIRED not a bool", env: map[string]string{"MCP_AUTH_REQUIRED": "yes please"}, wantVar: "MCP_AUTH_REQUIRED"},
		{name: "MCP_STATEFUL not a bool", env: map[string]string{"MCP_STATEFUL": "maybe"}, wantVar: "MCP_STATEFUL"},
		{name: "MCP_MAX_BODY_BYTES not a number", env: map[string]string{"MCP_MAX_BODY_BYTES": "lots"}, wantVar: "MCP_MAX_BODY_BYTES"},
		{name: "MCP_MAX_BODY_BYTES too small", env: map[string]string{"MCP_MAX_BODY_BYTES": "10"}, wantVar: "MCP_MAX_BODY_BYTES"},
		{name: "SENTINELX_URL not a URL", env: map[string]string{"SENTINELX_URL": "127.0.0.1:8091"}, wantVar: "SENTINELX_URL"},
		{name: "OIDC_JWKS_URI not a URL", env: map[string]string{"OIDC_JWKS_URI": "/jwks"}, wantVar: "OIDC_JWKS_URI"},
		{name: "client secret without id", env: map[string]string{"OIDC_CLIENT_SECRET": secretClient}, wantVar: "OIDC_CLIENT_SECRET"},
		{name: "client id without secret", env: map[string]string{"OIDC_CLIENT_ID": "bridge"}, wantVar: "OIDC_CLIENT_SECRET"},
		{name: "introspection without client", env: map[string]string{"OIDC_INTROSPECTION_URL": "https://auth.example.com/introspect"}, wantVar: "OIDC_CLIENT_ID"},
		{name: "UPLOAD_URL_ALLOW http", env: map[string]string{"UPLOAD_URL_ALLOW": "https://ok.example/,http://bad.example/"}, wantVar: "UPLOAD_URL_ALLOW"},
		{name: "audience list", env: map[string]string{"OIDC_EXPECTED_AUDIENCE": "https://sentinelx.example.com/mcp,https://sentinelx.example.com"}, check: func(t *testing.T, c server.Config) {
			if len(c.Audiences) != 2 || c.Audiences[1] != "https://sentinelx.example.com" {
				t.Errorf("Audiences = %q", c.Audiences)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range base {
				env[k] = v
			}
			for k, v := range tt.env {
				if v == "" {
					delete(env, k)
				} else {
					env[k] = v
				}
			}
			cfg, err := server.LoadConfig(func(k string) string { return env[k] })
			if tt.wantVar == "" {
				if err != nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				if tt.check != nil {
					tt.check(t, cfg)
				}
				return
			}
			if err == nil {
				t.Fatalf("LoadConfig succeeded, want an error naming %s", tt.wantVar)
			}
			var ce *server.ConfigError
			if !errors.As(err, &ce) || ce.Var != tt.wantVar {
				t.Errorf("error %q (%T), want a *ConfigError for %s", err, err, tt.wantVar)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, tt.wantVar) || strings.Contains(msg, "\n") {
				t.Errorf("error %q should be one line starting with %s", msg, tt.wantVar)
			}
			for _, s := range []string{secretToken, secretClient} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q contains a secret", err)
				}
			}
		})
	}
}

func wantTimeout(d time.Duration) func(*testing.T, server.Config) {
	return func(t *testing.T, c server.Config) {
		t.Helper()
		if time.Duration(c.UpstreamTimeout) != d {
			t.Errorf("UpstreamTimeout = %v, want %v", time.Duration(c.UpstreamTimeout), d)
		}
	}
}
