package server_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

// TestChunkedUploadUnderFaults: a chunk call that fails — the agent resets
// the connection before storing it, or stores it and then resets before
// answering — is an isError result; retrying the chunk and completing
// gives a file whose sha256 is the source's. Completing with a chunk
// missing fails and leaves no file behind. Nothing half-written is ever
// reported as success.
func TestChunkedUploadUnderFaults(t *testing.T) {
	var chunkCalls atomic.Int64
	var failChunk atomic.Int64 // 1-based chunk call to break; 0 = none
	var afterStore atomic.Bool // break after the agent stored it
	ts := startServerWith(t, setup{
		env: map[string]string{"RATE_LIMIT": "0", "UPSTREAM_TIMEOUT": "5s"},
		agent: sandbox.Options{Fault: func(r *http.Request) sandbox.Fault {
			if r.URL.Path != "/upload/chunk" {
				return sandbox.FaultNone
			}
			n := chunkCalls.Add(1)
			if n == failChunk.Load() && !afterStore.Load() {
				return sandbox.FaultReset
			}
			return sandbox.FaultNone
		}},
		agentWrap: func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/upload/chunk" || !afterStore.Load() || chunkCalls.Load()+1 != failChunk.Load() {
					next.ServeHTTP(w, r)
					return
				}
				// Let the agent store the chunk, then drop the answer.
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				resetConn(w)
			})
		},
	})
	tok := ts.mint(map[string]any{"scope": "sentinelx:upload"})
	const bound = 20 * time.Second
	data := make([]byte, 3*256<<10+123)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	var uploadWith func(t *testing.T, target string, breakAt int64, storeFirst, retry, verify bool) (toolResult, bool)
	chunks := [][]byte{data[:256<<10], data[256<<10 : 512<<10], data[512<<10 : 768<<10], data[768<<10:]}

	upload := func(t *testing.T, target string, breakAt int64, storeFirst, retry bool) (toolResult, bool) {
		return uploadWith(t, target, breakAt, storeFirst, retry, true)
	}
	uploadWith = func(t *testing.T, target string, breakAt int64, storeFirst, retry, verify bool) (toolResult, bool) {
		t.Helper()
		size, digest := len(data), hex.EncodeToString(sum[:])
		if !verify {
			size, digest = 0, ""
		}
		init := ts.callTool(t, tok, "sentinel_upload_init", map[string]any{"target_path": target, "total_size": size}, bound)
		if init.IsError {
			t.Fatalf("init: %s", init.text())
		}
		var id struct {
			UploadID string `json:"upload_id"`
		}
		if err := json.Unmarshal([]byte(init.text()), &id); err != nil || id.UploadID == "" {
			t.Fatalf("init result %q: %v", init.text(), err)
		}
		chunkCalls.Store(0)
		failChunk.Store(breakAt)
		afterStore.Store(storeFirst)
		defer failChunk.Store(0)
		failed := false
		for i, c := range chunks {
			args := map[string]any{"upload_id": id.UploadID, "index": i, "chunk_base64": base64.StdEncoding.EncodeToString(c)}
			r := ts.callTool(t, tok, "sentinel_upload_chunk", args, bound)
			if r.IsError {
				failed = true
				t.Logf("chunk %d failed as injected: %.160s", i, r.text())
				if retry {
					if r = ts.callTool(t, tok, "sentinel_upload_chunk", args, bound); r.IsError {
						t.Fatalf("retry of chunk %d: %s", i, r.text())
					}
				}
			}
		}
		args := map[string]any{"upload_id": id.UploadID}
		if digest != "" {
			args["sha256"] = digest
		}
		return ts.callTool(t, tok, "sentinel_upload_complete", args, bound), failed
	}
	check := func(t *testing.T, target string, r toolResult) {
		t.Helper()
		real := ts.Agent.RealPath("/var/lib/sentinelx/uploads/" + target)
		got, err := os.ReadFile(real)
		if r.IsError {
			if err == nil {
				t.Errorf("complete failed (%s) but %s exists (%d bytes)", r.text(), target, len(got))
			}
			return
		}
		if err != nil {
			t.Fatalf("complete succeeded but the file is missing: %v", err)
		}
		if s := sha256.Sum256(got); s != sum {
			t.Fatalf("complete reported success with a corrupt file: sha256 %x, want %x", s, sum)
		}
	}

	t.Run("reset before the agent stores, retried", func(t *testing.T) {
		r, failed := upload(t, "fault/a.bin", 2, false, true)
		if !failed || r.IsError {
			t.Fatalf("failed=%v complete=%s", failed, r.text())
		}
		check(t, "fault/a.bin", r)
	})
	t.Run("reset after the agent stored, retried", func(t *testing.T) {
		r, failed := upload(t, "fault/b.bin", 3, true, true)
		if !failed || r.IsError {
			t.Fatalf("failed=%v complete=%s", failed, r.text())
		}
		check(t, "fault/b.bin", r)
	})
	t.Run("chunk lost, not retried", func(t *testing.T) {
		r, failed := upload(t, "fault/c.bin", 2, false, false)
		if !failed {
			t.Fatal("no chunk failed")
		}
		if !r.IsError {
			t.Errorf("complete with a missing chunk succeeded: %s", r.text())
		}
		t.Logf("complete: %.200s", r.text())
		check(t, "fault/c.bin", r)
	})
	// Without total_size and sha256 (both optional) nothing can notice the
	// gap: the agent assembles the chunks it has.
	t.Run("chunk lost, not retried, no size or sha256", func(t *testing.T) {
		r, failed := uploadWith(t, "fault/d.bin", 2, false, false, false)
		if !failed {
			t.Fatal("no chunk failed")
		}
		if !r.IsError {
			got, _ := os.ReadFile(ts.Agent.RealPath("/var/lib/sentinelx/uploads/fault/d.bin"))
			t.Fatalf("complete without total_size/sha256 reported success for a file missing a chunk (%d of %d bytes)", len(got), len(data))
		}
	})
}

// resetConn aborts the connection under w with a TCP RST.
func resetConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
