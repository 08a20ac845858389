package sandbox

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// procResult is the agent's process-result object (UPSTREAM.md §3.3).
type procResult struct {
	Output     string  `json:"output"`
	Duration   pyFloat `json:"duration"`
	ReturnCode int     `json:"returncode"`
}

const (
	outNone    = "⚠️ Sin salida"
	outTimeout = "⏱️ Timeout"
	// execTimeout is the agent's limit for /exec, /service and /edit.
	execTimeout = 60 * time.Second
)

// buildOutput is the agent's stdout.strip() + "\n" + stderr.strip(),
// stripped again, with the "no output" marker.
func buildOutput(stdout, stderr string) string {
	out := strings.TrimSpace(strings.TrimSpace(stdout) + "\n" + strings.TrimSpace(stderr))
	if out == "" {
		return outNone
	}
	return out
}

func roundDuration(d time.Duration) pyFloat {
	return pyFloat(math.Round(d.Seconds()*100) / 100)
}

// runArgv runs argv directly (never through a shell) with the agent's
// result conventions. Output has real sandbox paths rewritten to virtual.
func (a *Agent) runArgv(ctx context.Context, argv []string, dir string, env []string, timeout time.Duration) procResult {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Args[0] = filepath.Base(argv[0]) // tools name themselves by argv[0]
	cmd.Dir = dir
	cmd.Env = env
	cmd.WaitDelay = time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	dur := roundDuration(time.Since(start))
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return procResult{Output: outTimeout, Duration: dur, ReturnCode: -1}
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
	default:
		return procResult{Output: "❌ Error: " + a.sb.hide(err.Error()), Duration: dur, ReturnCode: -1}
	}
	return procResult{
		Output:     a.sb.hide(buildOutput(stdout.String(), stderr.String())),
		Duration:   dur,
		ReturnCode: cmd.ProcessState.ExitCode(),
	}
}

// baseEnv is the minimal environment of sandboxed processes: a fixed PATH
// and the C locale (so tool messages read as in the captures), nothing
// from the bridge's own environment (which holds SENTINELX_TOKEN).
func (a *Agent) baseEnv() []string {
	return []string{
		"PATH=/usr/local/bin:/usr/bin:/bin",
		"LC_ALL=C",
		"HOME=" + a.sb.real(workDir),
		"TMPDIR=" + a.sb.real(tmpBase),
	}
}

// sandboxCommand describes how one exec command may be run.
type sandboxCommand struct {
	argv0 []string // binary and fixed leading args (e.g. df -h)
	paths bool     // non-flag arguments are paths (confined)
	args  bool     // free arguments allowed at all
}

// sandboxCommands is what /exec really runs, after the agent's prefix
// allowlist: read-only commands only, keyed by the typed words.
func sandboxCommands() map[string]sandboxCommand {
	return map[string]sandboxCommand{
		"uptime":   {argv0: []string{"uptime"}},
		"whoami":   {argv0: []string{"whoami"}},
		"id":       {argv0: []string{"id"}},
		"pwd":      {argv0: []string{"pwd"}},
		"echo":     {argv0: []string{"echo"}, args: true},
		"ls":       {argv0: []string{"ls"}, args: true, paths: true},
		"cat":      {argv0: []string{"cat"}, args: true, paths: true},
		"head":     {argv0: []string{"head"}, args: true, paths: true},
		"tail":     {argv0: []string{"tail"}, args: true, paths: true},
		"wc":       {argv0: []string{"wc"}, args: true, paths: true},
		"stat":     {argv0: []string{"stat"}, args: true, paths: true},
		"realpath": {argv0: []string{"realpath"}, args: true, paths: true},
		"df -h":    {argv0: []string{"df", "-h"}},
		"du -h":    {argv0: []string{"du", "-h"}, args: true, paths: true},
	}
}

// shellMeta are characters that would need a shell; the sandbox refuses
// them instead of guessing what bash would have done.
const shellMeta = ";|&$`<>()\\\"'*?[]{}~!#\n\r"

var shortFlag = regexp.MustCompile(`^-[A-Za-z0-9]+$`)

// runSandboxed is /exec's execution step for a command that passed the
// agent's prefix allowlist.
func (a *Agent) runSandboxed(ctx context.Context, cmdline string) procResult {
	fail := func(code int, msg string) procResult {
		return procResult{Output: msg, Duration: 0, ReturnCode: code}
	}
	if i := strings.IndexAny(cmdline, shellMeta); i >= 0 {
		return fail(2, "sandbox: shell syntax is not supported (found "+strconvQuote(cmdline[i:i+1])+
			"); the sandboxed agent runs one plain command without a shell")
	}
	words := strings.Fields(cmdline)
	if len(words) == 0 {
		return fail(127, "sandbox: empty command")
	}
	spec, ok := a.cmds[words[0]]
	rest := words[1:]
	if len(words) > 1 {
		if s2, ok2 := a.cmds[words[0]+" "+words[1]]; ok2 {
			spec, ok, rest = s2, true, words[2:]
		}
	}
	if !ok {
		return fail(127, "sandbox: command not available: "+words[0]+
			" (this sandboxed agent runs only: uptime, whoami, id, pwd, echo, ls, cat, head, tail, wc, stat, realpath, df -h, du -h)")
	}
	if len(rest) > 0 && !spec.args {
		return fail(2, "sandbox: "+words[0]+" takes no arguments here")
	}
	argv := append([]string(nil), spec.argv0...)
	for _, w := range rest {
		switch {
		case !spec.paths:
			argv = append(argv, w)
		case strings.HasPrefix(w, "--"):
			return fail(2, "sandbox: long options are not supported: "+w)
		case shortFlag.MatchString(w):
			argv = append(argv, w)
		default:
			p, err := a.sandboxArg(w)
			if err != nil {
				return fail(2, "sandbox: "+w+": "+err.Error())
			}
			argv = append(argv, p)
		}
	}
	bin, err := exec.LookPath(argv[0])
	if err != nil || !filepath.IsAbs(bin) {
		return fail(127, "sandbox: command not available: "+argv[0]+" (not installed on this machine)")
	}
	argv[0] = bin
	return a.runArgv(ctx, argv, a.sb.real(workDir), a.baseEnv(), execTimeout)
}

// sandboxArg maps a path argument: relative paths that stay under the
// working directory are passed as typed, anything else becomes the real
// path inside the sandbox (and is shown virtual again in the output).
func (a *Agent) sandboxArg(w string) (string, error) {
	if _, err := a.sb.resolve(w); err != nil {
		return "", err
	}
	v := a.sb.abs(w)
	if !strings.HasPrefix(w, "/") {
		if rel, ok := strings.CutPrefix(v, workDir+"/"); ok && !strings.Contains(w, "..") {
			return rel, nil
		}
		if v == workDir && !strings.Contains(w, "..") {
			return ".", nil
		}
	}
	return a.sb.real(v), nil
}

func strconvQuote(s string) string { return "'" + s + "'" }

// fileExists reports whether p exists (any type).
func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
