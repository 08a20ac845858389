package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/pensados/sentinelx-mcp/middleware"
	"github.com/pensados/sentinelx-mcp/tools"
)

// Config is the whole runtime configuration, read from the environment.
// Names follow the archived Python bridge first (MCP_PORT, SENTINELX_URL,
// OIDC_*, RESOURCE_URL, AUTH_DEBUG) so an existing env file keeps working.
// The `help` tag feeds `sentinelx-mcp --help`; keep it to one line.
type Config struct {
	Port          int    `env:"MCP_PORT" envDefault:"8098" help:"TCP port the MCP endpoint listens on"`
	Host          string `env:"MCP_HOST" envDefault:"127.0.0.1" help:"address to bind; keep loopback behind a reverse proxy"`
	UpstreamURL   string `env:"SENTINELX_URL" envDefault:"http://127.0.0.1:8091" help:"base URL of the SentinelX Core agent"`
	UpstreamToken string `env:"SENTINELX_TOKEN" help:"the agent's static bearer token (alias SENTINEL_TOKEN); required without AGENTS_FILE"`

	AgentsFile         string   `env:"AGENTS_FILE" help:"YAML registry of many agents (name, url, token_file/token_env, labels, timeout; docs/fleet.md); reloaded on SIGHUP and on change. Empty = the one agent of SENTINELX_URL"`
	FanoutConcurrency  int      `env:"FANOUT_CONCURRENCY" envDefault:"8" help:"hosts one fan-out call (hosts/selector) works on at once"`
	ReadyMinHosts      int      `env:"READY_MIN_HOSTS" envDefault:"1" help:"with AGENTS_FILE, /readyz is ready when at least this many hosts are reachable"`
	AgentMaxPerHost    int      `env:"UPSTREAM_MAX_CONCURRENCY_PER_HOST" envDefault:"8" help:"with AGENTS_FILE, calls in flight at once to one agent; further calls wait for a slot"`
	AgentProbeInterval Duration `env:"AGENT_PROBE_INTERVAL" envDefault:"15s" help:"with AGENTS_FILE, how often each agent is probed; a down agent is retried sooner, with backoff"`
	AgentDownAfter     int      `env:"AGENT_DOWN_AFTER" envDefault:"3" help:"with AGENTS_FILE, failed connections in a row that mark an agent down (calls to it then fail at once until a probe succeeds)"`

	Issuer           string   `env:"OIDC_ISSUER" help:"issuer of the access tokens, compared exactly (trailing slash tolerated); required"`
	JWKSURI          string   `env:"OIDC_JWKS_URI" help:"JWKS URL; empty = discovered from OIDC_ISSUER"`
	Audiences        []string `env:"OIDC_EXPECTED_AUDIENCE" envSeparator:"," help:"accepted token audiences (comma list); set it to the MCP URL. Empty skips the check (not recommended)"`
	IntrospectionURL string   `env:"OIDC_INTROSPECTION_URL" help:"RFC 7662 endpoint for opaque tokens; empty = discovered when client credentials are set"`
	ClientID         string   `env:"OIDC_CLIENT_ID" help:"client id used for token introspection"`
	ClientSecret     string   `env:"OIDC_CLIENT_SECRET" help:"client secret used for token introspection"`
	RequireATJWT     bool     `env:"OIDC_REQUIRE_AT_JWT" envDefault:"false" help:"accept only JWTs with typ at+jwt (RFC 9068)"`
	ScopeClaims      []string `env:"OIDC_SCOPE_CLAIMS" envSeparator:"," envDefault:"scope,scp" help:"claims that carry scopes (comma list): e.g. permissions (Auth0), roles (Entra app tokens), urn:zitadel:iam:org:project:roles (object keys), realm_access.roles (dotted path)"`

	ResourceURL  string `env:"RESOURCE_URL" help:"public base URL, e.g. https://sentinelx.example.com (a value ending in /mcp is the MCP URL itself); required"`
	AuthDebug    bool   `env:"AUTH_DEBUG" envDefault:"false" help:"log token verification details and claims (never the token)"`
	AuthRequired bool   `env:"MCP_AUTH_REQUIRED" envDefault:"false" help:"require a valid token on every /mcp request, not only on protected tool calls"`

	PolicyFile  string `env:"POLICY_FILE" help:"YAML authorization policy: rules over subject, groups, client, tool and arguments (docs/policy.md); reloaded on SIGHUP and on change. Empty = scopes only"`
	FilterTools bool   `env:"MCP_FILTER_TOOLS" envDefault:"false" help:"tools/list shows each caller only the tools its token's scopes (and the policy) allow"`

	AllowedHosts   []string `env:"MCP_ALLOWED_HOSTS" envSeparator:"," help:"extra Host header values accepted on /mcp, /, /readyz and /metrics (RESOURCE_URL's host and loopback are always accepted)"`
	AllowedOrigins []string `env:"MCP_ALLOWED_ORIGINS" envSeparator:"," help:"extra browser origins accepted on /mcp (use null to allow Origin: null)"`

	// Limits on what a client can make the server do without a token, and
	// on long-lived streams; see config_anon.go and docs/SECURITY.md.
	TrustedProxies      []string `env:"TRUSTED_PROXIES" envSeparator:"," envDefault:"127.0.0.0/8,::1" help:"reverse proxies (CIDR/address list) whose X-Forwarded-For/X-Real-IP name the client for per-address limits; loopback = the nginx on this host; none trusts nobody"`
	MaxBatch            int      `env:"MCP_MAX_BATCH" envDefault:"10" help:"most JSON-RPC messages in one /mcp request (2025-03-26 batches); more get one error, nothing processed"`
	MaxResponseBytes    int64    `env:"MCP_MAX_RESPONSE_BYTES" envDefault:"33554432" help:"largest answer to one /mcp POST in bytes (a whole batch; listen and GET streams excluded)"`
	AnonRateLimit       float64  `env:"ANON_RATE_LIMIT" envDefault:"20" help:"JSON-RPC messages per second without a token, per client address (burst twice that; all addresses together 10 times that); 0 disables"`
	MaxStreams          int      `env:"MCP_MAX_STREAMS" envDefault:"512" help:"long-lived streams (GET, subscriptions/listen) open at once in total"`
	MaxStreamsPerClient int      `env:"MCP_MAX_CLIENT_STREAMS" envDefault:"32" help:"long-lived streams open at once per client address"`
	StreamIdleTimeout   Duration `env:"MCP_STREAM_IDLE_TIMEOUT" envDefault:"5m" help:"a long-lived stream that sends nothing for this long is ended (Go duration or seconds)"`

	UploadURLAllow     []string `env:"UPLOAD_URL_ALLOW" envSeparator:"," help:"https URL prefixes sentinel_upload_file may download from; empty disables file_url"`
	EditUploadLocalDir string   `env:"EDIT_UPLOAD_LOCAL_DIR" help:"directory sentinel_edit_upload_file may read input_file from; empty disables input_file"`

	UpstreamTimeout Duration `env:"UPSTREAM_TIMEOUT" envDefault:"60s" help:"timeout of one agent call (Go duration; a bare number means seconds)"`
	Stateful        bool     `env:"MCP_STATEFUL" envDefault:"false" help:"keep MCP sessions (Mcp-Session-Id, GET stream); default is stateless"`
	MaxBodyBytes    int64    `env:"MCP_MAX_BODY_BYTES" envDefault:"16777216" help:"largest /mcp request body in bytes"`

	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json" help:"json or text"`
	AuditLog  string `env:"AUDIT_LOG" help:"file that receives the audit log (one JSON line per tool call); empty = the main log"`

	MetricsAddr            string  `env:"METRICS_ADDR" help:"host:port for a separate Prometheus /metrics listener; empty = /metrics on the main port"`
	RateLimit              float64 `env:"RATE_LIMIT" envDefault:"20" help:"protected tool calls per second per subject (burst twice that); 0 disables"`
	UpstreamMaxConcurrency int     `env:"UPSTREAM_MAX_CONCURRENCY" envDefault:"32" help:"agent calls in flight at once; further calls wait for a slot"`
	UpstreamMaxPerSubject  int     `env:"UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT" envDefault:"8" help:"agent calls one subject may have in flight at once (capped at UPSTREAM_MAX_CONCURRENCY), so one user's slow calls cannot take every slot"`
}

// Duration is a time.Duration that also accepts a bare number of seconds,
// because the old bridge's UPSTREAM_TIMEOUT was written as "60".
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler for caarlos0/env.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n <= 0 {
			return errors.New("must be positive")
		}
		*d = Duration(n * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration like 60s or 2m, or a number of seconds")
	}
	if v <= 0 {
		return errors.New("must be positive")
	}
	*d = Duration(v)
	return nil
}

// String formats like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// ConfigError names the variable that stopped startup and what it expects.
type ConfigError struct {
	Var  string
	Want string
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Want }

// LoadConfig reads and validates the configuration through getenv (os.Getenv
// in main, a map in tests). The first problem found is returned as a
// *ConfigError; secrets never appear in it.
func LoadConfig(getenv func(string) string) (Config, error) {
	vars := map[string]string{}
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		if v := getenv(name); v != "" {
			vars[name] = v
		}
	}
	if vars["SENTINELX_TOKEN"] == "" {
		if v := getenv("SENTINEL_TOKEN"); v != "" {
			vars["SENTINELX_TOKEN"] = v
		}
	}
	cfg, err := env.ParseAsWithOptions[Config](env.Options{Environment: vars})
	if err != nil {
		return Config{}, configParseError(err, vars)
	}
	if err := cfg.trimLists(vars); err != nil {
		return Config{}, err
	}
	return cfg, cfg.validate()
}

// trimLists trims every comma-list entry and drops blank ones, and refuses
// a list that is set but holds nothing: OIDC_EXPECTED_AUDIENCE=" , " must
// not quietly turn the audience check off.
func (c *Config) trimLists(vars map[string]string) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := range t.NumField() {
		f := v.Field(i)
		if f.Type() != reflect.TypeFor[[]string]() {
			continue
		}
		var kept []string
		for _, s := range f.Interface().([]string) {
			if s = strings.TrimSpace(s); s != "" {
				kept = append(kept, s)
			}
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		if len(kept) == 0 && strings.TrimSpace(vars[name]) != "" {
			return &ConfigError{name, "is set but lists nothing; give comma-separated values or unset it"}
		}
		f.Set(reflect.ValueOf(kept))
	}
	return nil
}

func configParseError(err error, vars map[string]string) error {
	var agg env.AggregateError
	if errors.As(err, &agg) && len(agg.Errors) > 0 {
		err = agg.Errors[0]
	}
	var pe env.ParseError
	if errors.As(err, &pe) {
		name := pe.Name
		if f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name); ok {
			name, _, _ = strings.Cut(f.Tag.Get("env"), ",")
		}
		want := "invalid value"
		switch pe.Type.Kind() {
		case reflect.Int, reflect.Int64:
			want = "want a whole number"
		case reflect.Bool:
			want = "want true or false"
		case reflect.Float64:
			want = "want a number"
		}
		if pe.Type == reflect.TypeFor[Duration]() && pe.Err != nil {
			want = pe.Err.Error()
		}
		// Only numbers, booleans and durations fail to parse; none is a
		// secret, so the value is echoed to show what was read.
		return &ConfigError{Var: name, Want: fmt.Sprintf("%s, got %q", want, vars[name])}
	}
	return &ConfigError{Var: "environment", Want: err.Error()}
}

func (c Config) validate() error {
	if c.Port < 1 || c.Port > 65535 {
		return &ConfigError{"MCP_PORT", "want a port number between 1 and 65535"}
	}
	if net.ParseIP(c.Host) == nil && c.Host != "localhost" && c.Host != "" {
		return &ConfigError{"MCP_HOST", "want an IP address such as 127.0.0.1 or 0.0.0.0"}
	}
	if err := checkURL(c.UpstreamURL, false); err != "" {
		return &ConfigError{"SENTINELX_URL", err}
	}
	if c.UpstreamToken == "" && c.AgentsFile == "" {
		return &ConfigError{"SENTINELX_TOKEN", "required: the SentinelX Core agent's bearer token (SENTINEL_TOKEN is accepted too)"}
	}
	if c.Issuer == "" {
		return &ConfigError{"OIDC_ISSUER", "required: the issuer URL of your identity provider, e.g. https://auth.example.com/realms/sentinelx"}
	}
	if err := checkURL(c.Issuer, false); err != "" {
		return &ConfigError{"OIDC_ISSUER", err}
	}
	for _, v := range []struct{ name, val string }{
		{"OIDC_JWKS_URI", c.JWKSURI}, {"OIDC_INTROSPECTION_URL", c.IntrospectionURL},
	} {
		if v.val == "" {
			continue
		}
		if err := checkURL(v.val, false); err != "" {
			return &ConfigError{v.name, err}
		}
	}
	if (c.ClientID == "") != (c.ClientSecret == "") {
		return &ConfigError{"OIDC_CLIENT_SECRET", "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET must be set together"}
	}
	if c.IntrospectionURL != "" && c.ClientID == "" {
		return &ConfigError{"OIDC_CLIENT_ID", "required when OIDC_INTROSPECTION_URL is set"}
	}
	if c.ResourceURL == "" {
		return &ConfigError{"RESOURCE_URL", "required: the public base URL clients use, e.g. https://sentinelx.example.com"}
	}
	if err := checkURL(c.ResourceURL, true); err != "" {
		return &ConfigError{"RESOURCE_URL", err}
	}
	for _, p := range c.UploadURLAllow {
		u, err := url.Parse(p)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return &ConfigError{"UPLOAD_URL_ALLOW", fmt.Sprintf("want https URL prefixes, got %q", p)}
		}
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			return &ConfigError{"METRICS_ADDR", "want host:port, e.g. 127.0.0.1:9098"}
		}
	}
	if c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0) {
		return &ConfigError{"RATE_LIMIT", "want calls per second per subject, 0 to disable"}
	}
	if c.UpstreamMaxConcurrency < 1 {
		return &ConfigError{"UPSTREAM_MAX_CONCURRENCY", "want a whole number of at least 1"}
	}
	if c.UpstreamMaxPerSubject < 1 {
		return &ConfigError{"UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT", "want a whole number of at least 1"}
	}
	for _, v := range []struct {
		name string
		val  int
	}{
		{"FANOUT_CONCURRENCY", c.FanoutConcurrency}, {"UPSTREAM_MAX_CONCURRENCY_PER_HOST", c.AgentMaxPerHost},
		{"AGENT_DOWN_AFTER", c.AgentDownAfter},
	} {
		if v.val < 1 {
			return &ConfigError{v.name, "want a whole number of at least 1"}
		}
	}
	if c.AgentProbeInterval < Duration(100*time.Millisecond) {
		return &ConfigError{"AGENT_PROBE_INTERVAL", "want at least 100ms (every host is probed this often)"}
	}
	if c.ReadyMinHosts < 0 {
		return &ConfigError{"READY_MIN_HOSTS", "want a whole number, 0 or more"}
	}
	if c.FanoutConcurrency > tools.MaxFanoutConcurrency {
		return &ConfigError{"FANOUT_CONCURRENCY", fmt.Sprintf("want at most %d", tools.MaxFanoutConcurrency)}
	}
	if c.MaxBodyBytes < 1024 {
		return &ConfigError{"MCP_MAX_BODY_BYTES", "want a byte count of at least 1024"}
	}
	if err := c.validateLimits(); err != nil {
		return err
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		return &ConfigError{"LOG_LEVEL", "want debug, info, warn or error"}
	}
	switch strings.ToLower(c.LogFormat) {
	case "json", "text":
	default:
		return &ConfigError{"LOG_FORMAT", "want json or text"}
	}
	for _, o := range c.AllowedOrigins {
		if o == "null" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return &ConfigError{"MCP_ALLOWED_ORIGINS", fmt.Sprintf("want origins like https://app.example.com (scheme://host[:port]) or null, got %q", o)}
		}
	}
	if c.EditUploadLocalDir != "" {
		if st, err := os.Stat(c.EditUploadLocalDir); err != nil || !st.IsDir() {
			return &ConfigError{"EDIT_UPLOAD_LOCAL_DIR", fmt.Sprintf("want an existing directory, got %q", c.EditUploadLocalDir)}
		}
	}
	return nil
}

// checkURL returns what is wrong with raw as an absolute http(s) URL, or "".
func checkURL(raw string, resource bool) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("want an absolute http(s) URL, got %q", raw)
	}
	if resource && (u.RawQuery != "" || u.Fragment != "") {
		return "must not contain a query or fragment"
	}
	if resource && u.Scheme == "http" && !middleware.IsLoopback(u.Hostname()) {
		return "must be https (plain http is allowed only for localhost)"
	}
	if resource && !plainPath(u.Path) {
		return "the path may hold only letters, digits and - . _ ~ / (it becomes part of the metadata URL)"
	}
	return ""
}

// plainPath reports a URL path made of unreserved characters and slashes:
// the metadata route is derived from it, and clients compare the resource
// byte for byte, so escapes or router metacharacters only cause trouble.
func plainPath(p string) bool {
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("-._~/", r):
		default:
			return false
		}
	}
	return !strings.Contains(p, "//") && !strings.Contains(p, "/./") && !strings.Contains(p, "/../")
}

// MCPURL is the URL clients configure and the RFC 8707 resource identifier:
// RESOURCE_URL + "/mcp", or RESOURCE_URL itself when it already ends in /mcp.
func (c Config) MCPURL() string {
	if strings.HasSuffix(c.ResourceURL, "/mcp") {
		return c.ResourceURL
	}
	return strings.TrimSuffix(c.ResourceURL, "/") + "/mcp"
}

// BaseURL is the origin-plus-prefix that the root PRM describes.
func (c Config) BaseURL() string {
	return strings.TrimSuffix(strings.TrimSuffix(c.MCPURL(), "/mcp"), "/")
}

// EnvHelp lists every variable with its default and purpose, for --help.
func EnvHelp() string {
	var b strings.Builder
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		def := f.Tag.Get("envDefault")
		if def == "" {
			def = "-"
		}
		fmt.Fprintf(&b, "  %-24s %-24s %s\n", name, def, f.Tag.Get("help"))
	}
	return b.String()
}
