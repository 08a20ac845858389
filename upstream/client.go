// Package upstream is the typed HTTP client for the SentinelX Core agent
// (UPSTREAM.md). It is the only code in the bridge that talks to the agent:
// it owns the shared keep-alive connection pool, the per-call deadlines,
// the response size cap, token scrubbing, and the single [Error] type that
// turns every failure mode into a message a person can act on.
//
// Every response type carries Raw, the agent's JSON body exactly as
// received (token scrubbed), next to the typed fields. Tools return Raw to
// the model so nothing the agent said is lost, and use typed fields only
// where they need to decide something.
package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults for [Options]. The 60 s call timeout matches the agent's own
// subprocess limit for /exec and /service, so a call never gives up before
// the agent would.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultMaxResponseBytes = 16 << 20
)

// Options configures [New]. Only BaseURL is required.
type Options struct {
	// BaseURL is SENTINELX_URL, e.g. "http://127.0.0.1:8091". A trailing
	// "/" is ignored; a path prefix is kept (agent behind a proxy).
	BaseURL string
	// Token is SENTINELX_TOKEN, sent as "Authorization: Bearer <Token>" and
	// scrubbed from every error and response this package returns.
	Token string
	// Timeout bounds one call, connect to last body byte. Default 60 s.
	// ScriptRun and uploads extend it (see their docs).
	Timeout time.Duration
	// MaxResponseBytes caps a response body. Default 16 MiB.
	MaxResponseBytes int64
	// Logger receives a warning with the agent's address when the agent
	// cannot be reached; the error returned (which reaches MCP clients)
	// names only the variable, SENTINELX_URL. Nil discards.
	Logger *slog.Logger
	// HTTPClient, when nil, is a client of the package's own with a
	// keep-alive pool sized for concurrent tool calls, no proxy and no
	// redirects. An injected client is used as is.
	HTTPClient *http.Client
	// Name is the agent's name in a host registry (AGENTS_FILE), e.g.
	// "web-1". When set, errors say agent "web-1" where they would say
	// SENTINELX_URL: with many agents there is no such variable to check,
	// and the name is what the operator finds in the file. The address
	// still stays out of errors, and New does not echo the URL (it may
	// carry credentials the operator mistyped into it).
	Name string
}

// Client calls one SentinelX Core agent. It is safe for concurrent use.
type Client struct {
	base    *url.URL
	token   string
	timeout time.Duration
	max     int64
	hc      *http.Client
	scrub   scrubber
	log     *slog.Logger
	name    string // Options.Name
}

// New validates opts and returns a client. It does not contact the agent;
// use [Client.Probe] for that.
func New(opts Options) (*Client, error) {
	raw := strings.TrimSpace(opts.BaseURL)
	if raw == "" {
		if opts.Name != "" {
			return nil, fmt.Errorf("upstream: agent %q: url: is empty; set it to the agent address, e.g. http://127.0.0.1:8091", opts.Name)
		}
		return nil, errors.New("upstream: SENTINELX_URL is empty; set it to the agent address, e.g. http://127.0.0.1:8091")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if opts.Name != "" && errors.As(err, &ue) {
			err = ue.Err // url.Error's text repeats the URL
		}
		return nil, urlError(opts.Name, raw, "is not a URL: "+err.Error())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, urlError(opts.Name, raw, "must start with http:// or https://")
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, urlError(opts.Name, raw, "has no host")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, urlError(opts.Name, raw, "must not carry credentials, a query or a fragment")
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	c := &Client{
		base:    u,
		token:   opts.Token,
		timeout: opts.Timeout,
		max:     opts.MaxResponseBytes,
		hc:      opts.HTTPClient,
		scrub:   newScrubber(opts.Token),
		log:     opts.Logger,
		name:    opts.Name,
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.max <= 0 {
		c.max = DefaultMaxResponseBytes
	}
	if c.hc == nil {
		c.hc = newHTTPClient()
	}
	return c, nil
}

// urlError words a BaseURL problem for the operator: SENTINELX_URL with
// the value as given, or the registry name without the value.
func urlError(name, raw, problem string) error {
	if name != "" {
		return fmt.Errorf("upstream: agent %q: url: %s", name, problem)
	}
	return fmt.Errorf("upstream: SENTINELX_URL %q %s", raw, problem)
}

// BaseURL returns the agent address as configured (for status pages).
func (c *Client) BaseURL() string { return c.base.String() }

// CloseIdleConnections releases pooled connections, e.g. at shutdown.
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// newHTTPClient builds the default keep-alive client. No overall
// http.Client.Timeout: deadlines come from the per-call context, because
// script runs legitimately last minutes. Proxy is off because the agent is
// an internal address that must not be routed through HTTP(S)_PROXY.
func newHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          128,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// call describes one request to the agent.
type call struct {
	method      string
	path        string
	body        []byte
	contentType string
	timeout     time.Duration // 0 means Client.timeout
}

// errCallDeadline is the cause attached to the per-call deadline, so a
// timeout of ours is told apart from the caller's context ending.
var errCallDeadline = errors.New("upstream call deadline")

// do runs one call and decodes a 2xx JSON object body into out (which may
// be nil). It returns the scrubbed raw body. Any failure is an *Error.
func (c *Client) do(ctx context.Context, cl call, out any) (json.RawMessage, error) {
	timeout := cl.timeout
	if timeout <= 0 {
		timeout = c.timeout
	}
	cctx, cancel := context.WithTimeoutCause(ctx, timeout, errCallDeadline)
	defer cancel()

	var body io.Reader
	if cl.body != nil {
		body = bytes.NewReader(cl.body)
	}
	req, err := http.NewRequestWithContext(cctx, cl.method, c.base.String()+cl.path, body)
	if err != nil {
		return nil, c.fail(cl, &Error{Kind: KindUnreachable, Detail: "cannot build request: " + err.Error(), Err: err})
	}
	applyCallerHeaders(ctx, req.Header)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if cl.contentType != "" {
		req.Header.Set("Content-Type", cl.contentType)
	}

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, c.fail(cl, c.transportError(ctx, cctx, cl, timeout, err, false))
	}
	defer resp.Body.Close()

	// A declared length over the cap is refused before reading a byte:
	// nothing is buffered and no deadline is spent on a body that would be
	// thrown away.
	if resp.ContentLength > c.max {
		return nil, c.fail(cl, &Error{Kind: KindTooLarge, Status: resp.StatusCode,
			Detail: "response exceeds " + formatBytes(c.max)})
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.max+1))
	if err != nil {
		return nil, c.fail(cl, c.transportError(ctx, cctx, cl, timeout, err, true))
	}
	if int64(len(data)) > c.max {
		return nil, c.fail(cl, &Error{Kind: KindTooLarge, Status: resp.StatusCode,
			Detail: "response exceeds " + formatBytes(c.max)})
	}
	data = c.scrub.bytes(data)

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		detail, isJSON := detailFromBody(data)
		e := &Error{Kind: KindHTTP, Status: resp.StatusCode, Detail: detail}
		if isJSON {
			e.Body = data
		}
		return nil, c.fail(cl, e)
	}

	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		ct := resp.Header.Get("Content-Type")
		if ct == "" {
			ct = "no content type"
		}
		return nil, c.fail(cl, &Error{Kind: KindBadResponse, Status: resp.StatusCode,
			Detail: fmt.Sprintf("agent answered %d with a body that is not a JSON object (%s): %q",
				resp.StatusCode, ct, shorten(string(trimmed)))})
	}
	var soft struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(trimmed, &soft); err == nil && len(soft.Error) > 0 && string(soft.Error) != "null" {
		var msg string
		if json.Unmarshal(soft.Error, &msg) != nil {
			msg = string(soft.Error)
		}
		return nil, c.fail(cl, &Error{Kind: KindRefused, Status: resp.StatusCode, Detail: msg, Body: data})
	}
	if out != nil {
		if err := json.Unmarshal(trimmed, out); err != nil {
			return nil, c.fail(cl, &Error{Kind: KindBadResponse, Status: resp.StatusCode,
				Detail: "agent answered with unexpected JSON: " + err.Error(), Body: data, Err: err})
		}
	}
	return data, nil
}

// fail fills in the call identity and scrubs every string of e.
func (c *Client) fail(cl call, e *Error) *Error {
	e.Method = cl.method
	e.Path = cl.path
	e.Detail = c.scrub.str(e.Detail)
	e.Cause = c.scrub.str(e.Cause)
	if e.Body != nil {
		e.Body = c.scrub.bytes(e.Body)
	}
	return e
}

// transportError classifies a failure where no complete response was read.
// An unreachable agent's address goes to the log, not into the error: the
// error reaches MCP clients, which have no business learning internal
// addresses, and names the variable an operator should check instead.
func (c *Client) transportError(parent, cctx context.Context, cl call, timeout time.Duration, err error, reading bool) *Error {
	switch {
	case errors.Is(context.Cause(cctx), errCallDeadline):
		// Err keeps DeadlineExceeded visible to errors.Is whatever the
		// transport wrapped.
		detail := "timed out after " + formatDuration(timeout)
		if c.name != "" {
			detail = c.agent() + " " + detail
		}
		return &Error{Kind: KindTimeout, Detail: detail,
			Err: fmt.Errorf("%w: %w", context.DeadlineExceeded, err)}
	case parent.Err() != nil:
		return &Error{Kind: KindCanceled, Detail: "canceled by caller: " + context.Cause(parent).Error(), Err: err}
	}
	cause := c.hideAddress(netCause(err))
	attrs := []slog.Attr{slog.String("url", c.base.String()), slog.String("call", cl.method+" "+cl.path),
		slog.Bool("mid_response", reading), slog.String("cause", cause)}
	if c.name != "" {
		attrs = append(attrs, slog.String("agent", c.name))
	}
	c.log.LogAttrs(parent, slog.LevelWarn, "agent unreachable", attrs...)
	what, check := c.agent(), "check SENTINELX_URL"
	if c.name != "" {
		check = "check its url in AGENTS_FILE"
	}
	if reading {
		return &Error{Kind: KindUnreachable, Err: err, Cause: cause,
			Detail: "connection to " + what + " lost while reading the response: " + cause}
	}
	return &Error{Kind: KindUnreachable, Err: err, Cause: cause,
		Detail: "cannot reach " + what + ": " + cause + "; " + check + " and that the SentinelX Core agent is running"}
}

// agent is how errors name the agent: the variable an operator sets, or
// the name the registry gave it.
func (c *Client) agent() string {
	if c.name != "" {
		return fmt.Sprintf("agent %q", c.name)
	}
	return "SENTINELX_URL"
}

// hideAddress replaces the agent's address in a transport error's text,
// where a dialer or resolver may have put it, with the variable's name
// (or the agent's registry name).
func (c *Client) hideAddress(s string) string {
	what := c.agent()
	s = strings.ReplaceAll(s, c.base.String(), what)
	s = strings.ReplaceAll(s, c.base.Host, what+"'s host")
	if h := c.base.Hostname(); h != c.base.Host {
		s = strings.ReplaceAll(s, h, what+"'s host")
	}
	return s
}

// netCause reduces a transport error to its useful tail ("connection
// refused", "no such host"), dropping the URL and dial noise.
func netCause(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed mid-response (unexpected EOF)"
	case errors.Is(err, io.EOF):
		return "connection closed before a response (EOF)"
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve the host name: " + dns.Err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}

// formatDuration prints whole seconds as "60s" rather than Go's "1m0s",
// since the number is what people compare against UPSTREAM_TIMEOUT.
func formatDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return d.String()
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// marshalJSON encodes without HTML escaping so markers like "<!-- BEGIN -->"
// reach the agent byte for byte.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// response is what [fetch] decodes into: a pointer to a response type,
// which embeds [Body] and so can keep the raw body.
type response[T any] interface {
	*T
	keep(json.RawMessage)
}

// fetch runs cl, decodes the agent's JSON into a new T and keeps the raw
// body beside it: the one decode path every endpoint method shares.
func fetch[T any, P response[T]](ctx context.Context, c *Client, cl call) (*T, error) {
	v := P(new(T))
	raw, err := c.do(ctx, cl, v)
	if err != nil {
		return nil, err
	}
	v.keep(raw)
	return v, nil
}

// postJSON is [fetch] for JSON endpoints: in is encoded as the request
// body; timeout 0 means Options.Timeout.
func postJSON[T any, P response[T]](ctx context.Context, c *Client, path string, in any, timeout time.Duration) (*T, error) {
	body, err := marshalJSON(in)
	if err != nil {
		return nil, fmt.Errorf("upstream: POST %s: encoding request: %w", path, err)
	}
	return fetch[T, P](ctx, c, call{method: http.MethodPost, path: path, body: body,
		contentType: "application/json", timeout: timeout})
}
