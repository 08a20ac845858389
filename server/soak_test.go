package server_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak drives mixed traffic — reads, exec, single and chunked uploads,
// anonymous calls, refused tokens and scopes — over loopback through
// server.New for SOAK_DURATION (default 2m), sampling RSS and goroutines,
// and asserts both stay flat. Skipped unless SOAK=1:
//
//	SOAK=1 SOAK_DURATION=5m go test ./server -run TestSoak -v -timeout 15m
func TestSoak(t *testing.T) {
	if os.Getenv("SOAK") != "1" {
		t.Skip("set SOAK=1 to run the soak test")
	}
	dur := 2 * time.Minute
	if v := os.Getenv("SOAK_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("SOAK_DURATION: %v", err)
		}
		dur = d
	}
	ts := startServerWith(t, setup{env: map[string]string{"RATE_LIMIT": "0", "UPSTREAM_TIMEOUT": "10s", "LOG_LEVEL": "warn"}})
	// The harness logs every request at debug into memory; keep it from
	// growing for the whole run so RSS measures the server, not the log.
	stopTrim := make(chan struct{})
	go func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stopTrim:
				return
			case <-tick.C:
				ts.Logs.Reset()
			}
		}
	}()
	defer close(stopTrim)

	all := ts.mint(map[string]any{"scope": "sentinelx:state sentinelx:exec sentinelx:upload sentinelx:capabilities",
		"exp": time.Now().Add(dur + time.Hour).Unix()})
	readOnly := ts.mint(map[string]any{"scope": "sentinelx:state", "exp": time.Now().Add(dur + time.Hour).Unix()})
	bad := all[:len(all)-4] + "AAAA"
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	post := func(tok, body string) (int, []byte, error) {
		req, _ := http.NewRequest(http.MethodPost, ts.MCPURL, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			b.WriteString(sc.Text())
		}
		return resp.StatusCode, []byte(b.String()), nil
	}
	call := func(tok, name string, args any) (int, toolResult, error) {
		p, _ := json.Marshal(map[string]any{"name": name, "arguments": args})
		st, b, err := post(tok, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":`+string(p)+`}`)
		var m struct{ Result toolResult }
		if err == nil && st == http.StatusOK {
			err = json.Unmarshal(b, &m)
		}
		return st, m.Result, err
	}

	var calls, failures atomic.Int64
	var failMu sync.Mutex
	var firstFailures []string
	fail := func(format string, a ...any) {
		failures.Add(1)
		failMu.Lock()
		if len(firstFailures) < 10 {
			firstFailures = append(firstFailures, fmt.Sprintf(format, a...))
		}
		failMu.Unlock()
	}
	payload := make([]byte, 96<<10)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	sum := sha256.Sum256(payload)
	ops := []func(w, i int){
		func(w, i int) {
			if st, r, err := call(all, "sentinel_state", map[string]any{}); err != nil || st != 200 || r.IsError {
				fail("state: %d %v %.100s", st, err, r.text())
			}
		},
		func(w, i int) {
			if st, r, err := call(all, "sentinel_exec", map[string]any{"cmd": "uptime"}); err != nil || st != 200 || r.IsError {
				fail("exec: %d %v %.100s", st, err, r.text())
			}
		},
		func(w, i int) {
			args := map[string]any{"target_path": "soak/w" + strconv.Itoa(w) + ".bin", "overwrite": true,
				"content_base64": base64.StdEncoding.EncodeToString(payload[:16<<10])}
			if st, r, err := call(all, "sentinel_upload_file", args); err != nil || st != 200 || r.IsError {
				fail("upload: %d %v %.100s", st, err, r.text())
			}
		},
		func(w, i int) { // chunked upload of 96 KiB in 3 chunks
			target := "soak/c" + strconv.Itoa(w) + ".bin"
			st, r, err := call(all, "sentinel_upload_init", map[string]any{"target_path": target, "total_size": len(payload), "overwrite": true})
			if err != nil || st != 200 || r.IsError {
				fail("init: %d %v %.100s", st, err, r.text())
				return
			}
			var id struct {
				UploadID string `json:"upload_id"`
			}
			_ = json.Unmarshal([]byte(r.text()), &id)
			for c := range 3 {
				chunk := payload[c*(32<<10) : (c+1)*(32<<10)]
				if st, r, err := call(all, "sentinel_upload_chunk", map[string]any{"upload_id": id.UploadID, "index": c,
					"chunk_base64": base64.StdEncoding.EncodeToString(chunk)}); err != nil || st != 200 || r.IsError {
					fail("chunk: %d %v %.100s", st, err, r.text())
					return
				}
			}
			if st, r, err := call(all, "sentinel_upload_complete", map[string]any{"upload_id": id.UploadID, "sha256": hex.EncodeToString(sum[:])}); err != nil || st != 200 || r.IsError {
				fail("complete: %d %v %.100s", st, err, r.text())
			}
		},
		func(w, i int) {
			if st, _, err := post("", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); err != nil || st != 200 {
				fail("tools/list: %d %v", st, err)
			}
		},
		func(w, i int) {
			if st, _, err := call("", "ping", map[string]any{}); err != nil || st != 200 {
				fail("ping: %d %v", st, err)
			}
		},
		func(w, i int) {
			if st, _, err := call(bad, "sentinel_state", map[string]any{}); err != nil || st != 401 {
				fail("bad token: %d %v", st, err)
			}
		},
		func(w, i int) {
			if st, _, err := call(readOnly, "sentinel_exec", map[string]any{"cmd": "uptime"}); err != nil || st != 403 {
				fail("scope: %d %v", st, err)
			}
		},
		func(w, i int) {
			if st, _, err := call(all, "sentinel_capabilities", map[string]any{}); err != nil || st != 200 {
				fail("capabilities: %d %v", st, err)
			}
		},
	}

	type sample struct {
		at         time.Duration
		rssKiB     int64
		goroutines int
		calls      int64
	}
	var samples []sample
	take := func(start time.Time) {
		runtime.GC()
		samples = append(samples, sample{time.Since(start).Round(time.Second), rssKiB(t), runtime.NumGoroutine(), calls.Load()})
	}

	start := time.Now()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	const workers = 6
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ops[(w+i)%len(ops)](w, i)
				calls.Add(1)
			}
		}()
	}
	take(start)
	tick := time.NewTicker(5 * time.Second)
	for time.Since(start) < dur {
		<-tick.C
		take(start)
	}
	tick.Stop()
	close(stop)
	wg.Wait()
	client.CloseIdleConnections()
	time.Sleep(time.Second) // let handler goroutines of the last calls end before the final sample
	take(start)

	for _, s := range samples {
		t.Logf("t=%-5s rss=%6.1f MiB goroutines=%4d calls=%d", s.at, float64(s.rssKiB)/1024, s.goroutines, s.calls)
	}
	elapsed := time.Since(start)
	t.Logf("%d calls in %s (%.0f/s), %d failures", calls.Load(), elapsed.Round(time.Second), float64(calls.Load())/elapsed.Seconds(), failures.Load())
	for _, f := range firstFailures {
		t.Errorf("failure: %s", f)
	}
	// Flat: compare the last third of the run with the first third after
	// warm-up (sample 0 is before any traffic).
	if len(samples) < 6 {
		t.Logf("too few samples (%d) to judge growth", len(samples))
		return
	}
	body := samples[1 : len(samples)-1]
	third := len(body) / 3
	maxOf := func(ss []sample) (rss int64, g int) {
		for _, s := range ss {
			rss, g = max(rss, s.rssKiB), max(g, s.goroutines)
		}
		return
	}
	rssEarly, gEarly := maxOf(body[:third])
	rssLate, gLate := maxOf(body[len(body)-third:])
	t.Logf("early max rss %.1f MiB, goroutines %d; late max rss %.1f MiB, goroutines %d; after stop goroutines %d",
		float64(rssEarly)/1024, gEarly, float64(rssLate)/1024, gLate, samples[len(samples)-1].goroutines)
	if rssLate > rssEarly+rssEarly/4+32<<10 {
		t.Errorf("RSS grew from %.1f to %.1f MiB", float64(rssEarly)/1024, float64(rssLate)/1024)
	}
	if gLate > gEarly+workers*4 {
		t.Errorf("goroutines grew from %d to %d", gEarly, gLate)
	}
	if final := samples[len(samples)-1].goroutines; final > samples[0].goroutines+16 {
		t.Errorf("goroutines after the load stopped: %d, before it started: %d", final, samples[0].goroutines)
	}
}

// rssKiB reads VmRSS from /proc/self/status.
func rssKiB(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}
