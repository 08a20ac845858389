// Package sandbox is an in-process SentinelX Core agent that follows
// UPSTREAM.md: same routes, authentication order, status codes, error
// strings, state counters and response shapes as the real FastAPI agent.
//
// It backs every Go test of the bridge, the benchmarks, and the product's
// dev mode, so it is built to be safe on a newcomer's laptop:
//
//   - everything happens inside one sandbox directory, seen by clients as a
//     virtual filesystem root ("/" is the sandbox; upload base
//     /var/lib/sentinelx/uploads and working directory
//     /var/lib/sentinelx/sandbox live inside it, as on the host the captures
//     were recorded on); paths that resolve outside it are refused;
//   - /exec never uses a shell: after the agent's own prefix allowlist it
//     runs only a handful of read-only commands with a fixed argv;
//   - /service and /restart are simulated; nothing on the host is touched.
//
// /script/run does run real bash or python3 (in a job directory inside the
// sandbox, with a minimal environment), as the real agent does; it is
// arbitrary code by design and is confined only by the sandbox's working
// directory and the caller's timeout. Set Options.DisableScripts to refuse it.
package sandbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults mirroring the real agent's configuration (UPSTREAM.md §1).
const (
	DefaultMaxUploadBytes = 10 << 30
	DefaultHelperPath     = "/opt/sentinelx/bin/sentinelx-safe-edit"

	// Virtual paths as the agent reports them.
	uploadBase = "/var/lib/sentinelx/uploads"
	tmpBase    = uploadBase + "/.sentinelx_uploads"
	workDir    = "/var/lib/sentinelx/sandbox"
)

// Options configures [New]. Token is required.
type Options struct {
	// Token is the agent's SENTINEL_TOKEN.
	Token string
	// Dir is the sandbox root. Empty means a fresh temporary directory that
	// Close removes. A given Dir is kept.
	Dir string
	// Delay is added before every request is handled (benchmarks, timeouts).
	Delay time.Duration
	// Logger receives one line per request. Nil means no logging.
	Logger *slog.Logger
	// MaxUploadBytes is SENTINEL_MAX_UPLOAD_BYTES. Default 10 GiB.
	MaxUploadBytes int64
	// HelperPath is the edit helper path shown in "command" argv; nothing
	// is executed from it. Default "/opt/sentinelx/bin/sentinelx-safe-edit".
	HelperPath string
	// Now is the clock for uptime, last_update and backup names. Default
	// time.Now.
	Now func() time.Time
	// Fault, when set, picks a fault for each request (see [Fault]). It is
	// consulted before [Agent.SetFault]'s fixed mode and must be safe for
	// concurrent use.
	Fault func(r *http.Request) Fault
	// DisableScripts makes /script/run answer with a refusal process result
	// instead of running bash or python3.
	DisableScripts bool
}

// Agent is an http.Handler speaking the SentinelX Core API.
type Agent struct {
	token     string
	sb        *sandbox
	ownDir    bool
	delay     time.Duration
	log       *slog.Logger
	maxUpload int64
	helper    string
	now       func() time.Time
	faultFn   func(r *http.Request) Fault
	fault     atomic.Int32
	noScripts bool
	started   time.Time

	locks   idLocks                   // per upload id
	editMu  sync.Mutex                // serializes file edits, as the real agent serializes requests
	allowed []string                  // the agent's allowed_commands, in order
	cmds    map[string]sandboxCommand // what /exec really runs
	bash    string                    // interpreters for scripts and validators
	python  string

	mu       sync.Mutex // guards state and services
	state    runtimeState
	services map[string]*service

	routes map[string]route
}

// route is one endpoint: the only method it accepts and its handler.
type route struct {
	method string
	h      func(w http.ResponseWriter, r *http.Request)
}

// New creates the sandbox layout and returns the agent.
func New(opts Options) (*Agent, error) {
	if opts.Token == "" {
		return nil, errors.New("sandbox: Options.Token is required")
	}
	a := &Agent{
		token:     opts.Token,
		delay:     opts.Delay,
		log:       opts.Logger,
		maxUpload: opts.MaxUploadBytes,
		helper:    opts.HelperPath,
		now:       opts.Now,
		faultFn:   opts.Fault,
		noScripts: opts.DisableScripts,
	}
	if a.maxUpload <= 0 {
		a.maxUpload = DefaultMaxUploadBytes
	}
	if a.helper == "" {
		a.helper = DefaultHelperPath
	}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "sentinelx-agent-")
		if err != nil {
			return nil, fmt.Errorf("sandbox: creating sandbox: %w", err)
		}
		dir, a.ownDir = d, true
	}
	sb, err := newSandbox(dir)
	if err != nil {
		return nil, err
	}
	a.sb = sb
	for _, v := range []string{tmpBase, workDir} {
		if err := os.MkdirAll(sb.real(v), 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: creating %s: %w", v, err)
		}
	}
	a.started = a.now()
	var caps struct {
		Allowed []string `json:"allowed_commands"`
	}
	if err := json.Unmarshal(capabilitiesJSON, &caps); err != nil {
		return nil, fmt.Errorf("sandbox: embedded capabilities: %w", err)
	}
	a.allowed = caps.Allowed
	a.cmds = sandboxCommands()
	a.bash, a.python = lookInterpreter("bash"), lookInterpreter("python3")
	a.services = newRegistry(a.started)
	a.routes = map[string]route{
		"/state":                {http.MethodGet, a.handleState},
		"/capabilities":         {http.MethodGet, a.handleCapabilities},
		"/exec":                 {http.MethodPost, a.handleExec},
		"/service":              {http.MethodPost, a.handleService},
		"/restart":              {http.MethodPost, a.handleRestart},
		"/edit":                 {http.MethodPost, a.handleEdit},
		"/edit/upload/init":     {http.MethodPost, a.handleEditUploadInit},
		"/edit/upload/file":     {http.MethodPost, a.handleEditUploadFile},
		"/edit/upload/complete": {http.MethodPost, a.handleEditUploadComplete},
		"/script/run":           {http.MethodPost, a.handleScriptRun},
		"/upload":               {http.MethodPost, a.handleUpload},
		"/upload/init":          {http.MethodPost, a.handleUploadInit},
		"/upload/chunk":         {http.MethodPost, a.handleUploadChunk},
		"/upload/complete":      {http.MethodPost, a.handleUploadComplete},
	}
	return a, nil
}

// Dir returns the sandbox root on the real filesystem. Virtual path "/x"
// is Dir()+"/x".
func (a *Agent) Dir() string { return a.sb.root }

// RealPath maps a virtual agent path (as in responses, e.g.
// "/var/lib/sentinelx/uploads/smoke/hello.txt") to the real file, so tests
// can inspect what the agent wrote. Relative paths are taken from the
// agent's working directory.
func (a *Agent) RealPath(virtual string) string { return a.sb.real(a.sb.abs(virtual)) }

// Close removes the sandbox if New created it.
func (a *Agent) Close() error {
	if a.ownDir {
		return os.RemoveAll(a.sb.root)
	}
	return nil
}

// ServeHTTP dispatches like FastAPI: unknown path 404, wrong method 405,
// both with a JSON "detail".
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "sandbox agent request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", rec.status), slog.Duration("took", time.Since(start)))
	}()
	if a.delay > 0 {
		t := time.NewTimer(a.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if a.injectFault(rec, r) {
		return
	}
	rt, ok := a.routes[r.URL.Path]
	if !ok {
		writeDetail(rec, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != rt.method {
		rec.Header().Set("Allow", rt.method)
		writeDetail(rec, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	rt.h(rec, r)
}

// authorize applies the agent's three checks (UPSTREAM.md §2) and writes
// the 401/403 itself. It reports whether the handler may continue.
func (a *Agent) authorize(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || h[:len(prefix)] != prefix {
		writeDetail(w, http.StatusUnauthorized, "Missing token")
		return false
	}
	tok := splitSecond(h)
	if subtle.ConstantTimeCompare([]byte(tok), []byte(a.token)) != 1 {
		writeDetail(w, http.StatusForbidden, "Invalid token")
		return false
	}
	return true
}

// splitSecond is Python's header.split(" ")[1]: single spaces, so
// "Bearer  abc" yields "".
func splitSecond(h string) string {
	i := 0
	for i < len(h) && h[i] != ' ' {
		i++
	}
	if i >= len(h) {
		return ""
	}
	rest := h[i+1:]
	j := 0
	for j < len(rest) && rest[j] != ' ' {
		j++
	}
	return rest[:j]
}

func (a *Agent) handleState(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, a.snapshot())
}

// statusRecorder remembers the status for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (faults).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// drain reads what is left of a body so the connection can be reused.
func drain(r *http.Request) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
}

// virtualJoin joins virtual path elements (always "/"-separated).
func virtualJoin(elem ...string) string {
	return filepath.ToSlash(filepath.Join(elem...))
}

// ctxDone reports whether the request was abandoned.
func ctxDone(ctx context.Context) bool { return ctx.Err() != nil }
