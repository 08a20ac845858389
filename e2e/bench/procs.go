package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type proc struct {
	cmd  *exec.Cmd
	url  string
	done chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// start runs argv (pinned to cpus when pinning is available) and returns
// once waitFor reports the URL to use, or at once when waitFor is nil.
func start(ctx context.Context, argv []string, env []string, logPath string, cpus string, waitFor func(line string) (string, bool)) (*proc, error) {
	if otherCPUs != "" && cpus != "" {
		argv = append([]string{"taskset", "-c", cpus}, argv...)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		pw.Close()
		logf.Close()
		close(p.done)
	}()
	found := make(chan string, 1)
	if waitFor == nil {
		found <- ""
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent && waitFor != nil {
				if u, ok := waitFor(line); ok {
					found <- u
					sent = true
					continue
				}
			}
			// Keep the log as the product would write it: one write per line.
			fmt.Fprintln(logf, line)
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case u := <-found:
		p.url = u
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("%s exited before it was ready; see %s", argv, logPath)
	case <-time.After(15 * time.Second):
		p.stop()
		return nil, fmt.Errorf("%s not ready after 15 s; see %s", argv, logPath)
	case <-ctx.Done():
		p.stop()
		return nil, ctx.Err()
	}
}

func startAgent(ctx context.Context, bin string, delay time.Duration, logPath string) (*proc, error) {
	env := append(baseEnv(), "SENTINELX_TOKEN="+agentToken)
	return start(ctx, []string{bin, "agent", "--addr", "127.0.0.1:0", "--delay", delay.String()}, env, logPath, otherCPUs,
		func(line string) (string, bool) {
			u, ok := strings.CutPrefix(line, "agent listening on ")
			return strings.TrimSpace(u), ok
		})
}

func startBridge(ctx context.Context, o options, idp *idp, agentURL, logPath string, extra []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	env := append(baseEnv(),
		"MCP_HOST=127.0.0.1", "MCP_PORT="+strconv.Itoa(port),
		"RESOURCE_URL="+base,
		"OIDC_ISSUER="+idp.url, "OIDC_EXPECTED_AUDIENCE="+base+"/mcp",
		// One subject drives the whole load; the per-subject limit would
		// measure the limiter, not the bridge.
		"RATE_LIMIT=0",
		// The same for the subject's share of the agent slots: all of
		// them, as one subject stands for every caller here.
		"UPSTREAM_MAX_CONCURRENCY_PER_SUBJECT=32",
		// Logs go to a file, at the product's default level and format.
	)
	if agentURL != "" { // else extra names an AGENTS_FILE
		env = append(env, "SENTINELX_URL="+agentURL, "SENTINELX_TOKEN="+agentToken)
	}
	env = append(env, o.env...)
	env = append(env, extra...)
	// Readiness is polled, not read from the log: LOG_LEVEL may hide it.
	p, err := start(ctx, []string{o.bin, "serve"}, env, logPath, serverCPU, nil)
	if err != nil {
		return nil, err
	}
	p.url = base
	// Ready means the JWKS is loaded.
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("bridge not ready after 15 s; see %s", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// baseEnv passes on only what a Go program needs, so the caller's OIDC_*
// or SENTINELX_* never leak into the measured processes.
func baseEnv() []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOGC", "GOMEMLIMIT", "GODEBUG", "GOMAXPROCS"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func pin(pid int, cpus string) {
	if otherCPUs == "" || cpus == "" {
		return
	}
	exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).Run()
}

// --- /proc ---

const clkTck = 100 // USER_HZ on Linux

func cpuTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised comm; utime and stime are fields 14, 15.
	s := string(b)
	s = s[strings.LastIndexByte(s, ')')+2:]
	f := strings.Fields(s)
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// sysTicks is stime alone (field 15).
func sysTicks(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return st
}

func statusKB(pid int, key string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

func rssKB(pid int) int64 { return statusKB(pid, "VmRSS") }
func hwmKB(pid int) int64 { return statusKB(pid, "VmHWM") }

// --- identity provider ---
