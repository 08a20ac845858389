package main

import (
	"encoding/json"
	"github.com/pensados/sentinelx-mcp/internal/testnet"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestServeNotifiesSystemdAndServesMetricsAddr runs the serve command as
// systemd would (NOTIFY_SOCKET set) with METRICS_ADDR: READY=1 arrives once
// listening, /metrics answers on its own listener only, and STOPPING=1
// arrives on shutdown.
func TestServeNotifiesSystemdAndServesMetricsAddr(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mport := testnet.FreePort(t)
	s := startServe(t, map[string]string{
		"SENTINELX_TOKEN": "agent-token",
		"SENTINELX_URL":   "http://127.0.0.1:1",
		"METRICS_ADDR":    "127.0.0.1:" + strconv.Itoa(mport),
		"NOTIFY_SOCKET":   sock,
	})
	out := s.out

	read := func() string {
		t.Helper()
		buf := make([]byte, 64)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no sd_notify message: %v; output:\n%s", err, out)
		}
		return string(buf[:n])
	}
	if got := read(); got != "READY=1" {
		t.Fatalf("first message %q, want READY=1", got)
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	base := s.base
	if code, body := get(base + "/healthz"); code != 200 || !json.Valid([]byte(body)) {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	if code, _ := get(base + "/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics on the main port: %d, want 404", code)
	}
	code, body := get("http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics")
	if code != 200 || !strings.Contains(body, "sentinelx_build_info") || !strings.Contains(body, `sentinelx_http_requests_total{code="200",route="/healthz"} 1`) {
		t.Fatalf("METRICS_ADDR /metrics: %d\n%s", code, body)
	}
	s.stop()
	if got := read(); got != "STOPPING=1" {
		t.Fatalf("message on shutdown %q, want STOPPING=1", got)
	}
}
