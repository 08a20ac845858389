package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func newClient() *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     time.Minute,
		},
	}
}

func directReq(base, what string) *http.Request {
	var req *http.Request
	if what == "state" {
		req, _ = http.NewRequest(http.MethodGet, base+"/state", nil)
	} else {
		req, _ = http.NewRequest(http.MethodPost, base+"/exec", strings.NewReader(`{"cmd":"echo hi"}`))
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+agentToken)
	req.Header.Set("Accept", "application/json")
	return req
}

func bridgeReq(base, tok, tool string) *http.Request {
	args := `{}`
	if tool == "sentinel_exec" {
		args = `{"cmd":"echo hi"}`
	}
	return rpcReq(base, tok, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"`+tool+`","arguments":`+args+`}}`)
}

// accept is what rpcReq sends: both types, as MCP clients do (the bridge
// answers with one SSE event), unless -accept-json.
var accept = "application/json, text/event-stream"

// rpcReq is a POST /mcp as MCP clients send it: Accept, protocol version
// header, bearer.
func rpcReq(base, tok, body string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}

func checkDirect(status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	if bytes.Contains(body, []byte(`"error"`)) {
		return fmt.Errorf("agent refused: %.200s", body)
	}
	return nil
}

func checkBridge(status int, body []byte) error {
	if status != 200 {
		return fmt.Errorf("HTTP %d: %.200s", status, body)
	}
	if !bytes.Contains(body, []byte(`"result"`)) || bytes.Contains(body, []byte(`"isError":true`)) {
		return fmt.Errorf("tool failed: %.300s", body)
	}
	return nil
}

// --- load ---

type result struct {
	n, errs  int
	firstErr string
	elapsed  time.Duration
	lat      []time.Duration // sorted
	cpuTicks int64           // server utime+stime over the step
}

func (r *result) p(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(float64(len(r.lat))*q/100+0.5) - 1
	return r.lat[min(max(i, 0), len(r.lat)-1)]
}

func (r *result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// cpuPerCall is the server's CPU per request in µs.
func (r *result) cpuPerCall(ticks int64) float64 {
	if r.n == 0 {
		return 0
	}
	return float64(ticks) * 1e6 / float64(clkTck) / float64(r.n)
}

func (r *result) brief() string {
	s := fmt.Sprintf("n=%d %.0f/s p50=%s p90=%s p99=%s cpu=%.0fµs/call errs=%d",
		r.n, r.rate(), fmtDur(r.p(50)), fmtDur(r.p(90)), fmtDur(r.p(99)), r.cpuPerCall(r.cpuTicks), r.errs)
	if r.firstErr != "" {
		s += " first error: " + r.firstErr
	}
	return s
}

// target is what a step drives: the agent directly or the bridge.
type target struct {
	name  string                          // "direct" or "bridge"
	srv   *proc                           // whose CPU is measured
	calls map[string]func() *http.Request // by tool name
}

// measure runs one step against tg and adds the server's CPU time.
func measure(ctx context.Context, client *http.Client, tg target, mk func() *http.Request, check func(int, []byte) error, c int, o options) *result {
	before := cpuTicks(tg.srv.pid())
	res := load(ctx, client, mk, check, c, o.max, o.duration)
	res.cpuTicks = cpuTicks(tg.srv.pid()) - before
	return res
}

// load runs c workers, closed loop, until max requests or d elapse.
func load(ctx context.Context, client *http.Client, mk func() *http.Request, check func(int, []byte) error, c, max int, d time.Duration) *result {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	lats := make([][]time.Duration, c)
	errs := make([]int, c)
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Go(func() {
			buf := make([]byte, 0, 8192)
			for ctx.Err() == nil && next.Add(1) <= int64(max) {
				req := mk().WithContext(ctx)
				t0 := time.Now()
				status, body, err := do(client, req, buf[:0])
				lat := time.Since(t0)
				if ctx.Err() != nil {
					return // cut off by the step's end, not the server's fault
				}
				if err == nil {
					err = check(status, body)
				}
				if err != nil {
					errs[w]++
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				lats[w] = append(lats[w], lat)
				buf = body
			}
		})
	}
	wg.Wait()
	res := &result{elapsed: time.Since(start)}
	for w := range c {
		res.lat = append(res.lat, lats[w]...)
		res.errs += errs[w]
	}
	res.n = len(res.lat) + res.errs
	slices.Sort(res.lat)
	if s, ok := firstErr.Load().(string); ok {
		res.firstErr = s
	}
	return res
}

// steady sends rate calls/s open loop (each on its own goroutine at its
// scheduled time) for d and reports latencies.
func steady(ctx context.Context, client *http.Client, mk func() *http.Request, check func(int, []byte) error, rate float64, d time.Duration) *result {
	// Warm enough connections for the expected concurrency.
	load(ctx, client, mk, check, 8, 200, d)
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	lats := make([]time.Duration, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			t0 := time.Now()
			status, body, err := do(client, mk().WithContext(ctx), nil)
			lats[i] = time.Since(t0)
			if err == nil {
				err = check(status, body)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	res := &result{elapsed: time.Since(start)}
	for i := range n {
		if errs[i] != nil {
			res.errs++
			if res.firstErr == "" {
				res.firstErr = errs[i].Error()
			}
			continue
		}
		if lats[i] > 0 {
			res.lat = append(res.lat, lats[i])
		}
	}
	res.n = len(res.lat) + res.errs
	slices.Sort(res.lat)
	return res
}

func do(client *http.Client, req *http.Request, buf []byte) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b := bytes.NewBuffer(buf)
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.Bytes(), err
}

// --- processes ---
