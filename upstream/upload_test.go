package upstream_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/pensados/sentinelx-mcp/upstream"
	"github.com/pensados/sentinelx-mcp/upstream/sandbox"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestChunkedUploadLarge(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken})
	c := newClient(t, srv.URL, testToken)
	ctx := context.Background()

	data := make([]byte, 10<<20+12345) // > 10 MiB
	_, _ = rand.Read(data)
	const chunks = 5
	size := (len(data) + chunks - 1) / chunks

	init, err := c.UploadInit(ctx, upstream.UploadInitRequest{TargetPath: "big/blob.bin", TotalSize: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	// Out of order on purpose: the agent orders by index.
	for _, i := range []int{3, 0, 4, 1, 2} {
		part := data[i*size : min((i+1)*size, len(data))]
		res, err := c.UploadChunk(ctx, upstream.UploadChunkRequest{UploadID: init.UploadID, Index: i, Content: part})
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if res.Index != i || res.ChunkSize != int64(len(part)) {
			t.Errorf("chunk %d ack = %+v", i, res)
		}
	}
	done, err := c.UploadComplete(ctx, upstream.UploadCompleteRequest{UploadID: init.UploadID, SHA256: sha(data)})
	if err != nil {
		t.Fatal(err)
	}
	if done.Size != int64(len(data)) || done.SHA256 != sha(data) || done.TargetPath != "/var/lib/sentinelx/uploads/big/blob.bin" {
		t.Errorf("complete = %+v", done)
	}
	got, err := os.ReadFile(srv.RealPath(done.TargetPath))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored file differs (err %v, %d bytes)", err, len(got))
	}
	// The id is spent.
	_, err = c.UploadComplete(ctx, upstream.UploadCompleteRequest{UploadID: init.UploadID})
	if ue := asError(t, err); ue.Status != 404 || ue.Detail != "upload_id not found" {
		t.Errorf("second complete: %v", ue)
	}
}

func TestChunkedUploadFailures(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken})
	c := newClient(t, srv.URL, testToken)
	ctx := context.Background()
	parts := [][]byte{[]byte("part-one;"), []byte("part-two\n")}
	whole := bytes.Join(parts, nil)

	tests := []struct {
		name      string
		total     int64
		send      []int
		sha       string
		status    int
		detail    string
		thenSend  []int // fix-up after the failure: the upload survives it
		thenOK    bool
		overwrite bool
	}{
		{name: "missing chunk", total: 18, send: []int{0}, sha: sha(whole), status: 400,
			detail: "Size mismatch: expected 18, got 9", thenSend: []int{1}, thenOK: true},
		{name: "wrong sha", total: 18, send: []int{0, 1}, sha: strings.Repeat("0", 64), status: 400, detail: "sha256 mismatch"},
		{name: "uppercase sha is a mismatch", total: 0, send: []int{0, 1}, sha: strings.ToUpper(sha(whole)), status: 400, detail: "sha256 mismatch"},
		{name: "no chunks", total: 0, send: nil, status: 400, detail: "No chunks uploaded", thenSend: []int{0, 1}, thenOK: true},
		{name: "size mismatch too big", total: 5, send: []int{0, 1}, status: 400, detail: "Size mismatch: expected 5, got 18"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "fail/" + strings.ReplaceAll(tt.name, " ", "-")
			init, err := c.UploadInit(ctx, upstream.UploadInitRequest{TargetPath: target, TotalSize: tt.total})
			if err != nil {
				t.Fatal(err)
			}
			for _, idx := range tt.send {
				if _, err := c.UploadChunk(ctx, upstream.UploadChunkRequest{UploadID: init.UploadID, Index: idx, Content: parts[idx]}); err != nil {
					t.Fatal(err)
				}
			}
			_, err = c.UploadComplete(ctx, upstream.UploadCompleteRequest{UploadID: init.UploadID, SHA256: tt.sha})
			ue := asError(t, err)
			if ue.Status != tt.status || ue.Detail != tt.detail {
				t.Fatalf("case %d: got %v", i, ue)
			}
			if tt.thenSend == nil {
				return
			}
			for _, idx := range tt.thenSend {
				if _, err := c.UploadChunk(ctx, upstream.UploadChunkRequest{UploadID: init.UploadID, Index: idx, Content: parts[idx]}); err != nil {
					t.Fatal(err)
				}
			}
			res, err := c.UploadComplete(ctx, upstream.UploadCompleteRequest{UploadID: init.UploadID, SHA256: sha(whole)})
			if (err == nil) != tt.thenOK {
				t.Fatalf("retry: %v", err)
			}
			if tt.thenOK && res.SHA256 != sha(whole) {
				t.Errorf("retry sha = %s", res.SHA256)
			}
		})
	}
	t.Run("unknown id", func(t *testing.T) {
		for _, id := range []string{"nope", "../../etc", "/abs"} {
			_, err := c.UploadChunk(ctx, upstream.UploadChunkRequest{UploadID: id, Content: []byte("x")})
			if ue := asError(t, err); ue.Status != 404 || ue.Detail != "upload_id not found" {
				t.Errorf("%q: %v", id, ue)
			}
		}
	})
	t.Run("init conflicts", func(t *testing.T) {
		if _, err := c.Upload(ctx, upstream.UploadRequest{TargetPath: "exists.txt", Content: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		_, err := c.UploadInit(ctx, upstream.UploadInitRequest{TargetPath: "exists.txt"})
		if ue := asError(t, err); ue.Status != 409 || ue.Detail != "File already exists" {
			t.Errorf("init over existing: %v", ue)
		}
		if _, err := c.UploadInit(ctx, upstream.UploadInitRequest{TargetPath: "exists.txt", Overwrite: true}); err != nil {
			t.Errorf("init with overwrite: %v", err)
		}
	})
}

func TestSingleUpload(t *testing.T) {
	t.Parallel()
	srv := sandbox.Start(t, sandbox.Options{Token: testToken, MaxUploadBytes: 64})
	c := newClient(t, srv.URL, testToken)
	ctx := context.Background()
	if err := os.Symlink("/etc", srv.RealPath("/var/lib/sentinelx/uploads/etc-link")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		target    string
		overwrite bool
		content   string
		status    int
		detail    string
		stored    string
	}{
		{name: "new", target: "/site/hello.txt", content: "hello\n", stored: "/var/lib/sentinelx/uploads/site/hello.txt"},
		{name: "exists", target: "site/hello.txt", content: "again\n", status: 409, detail: "File already exists"},
		{name: "overwrite", target: "site/hello.txt", overwrite: true, content: "again\n", stored: "/var/lib/sentinelx/uploads/site/hello.txt"},
		{name: "traversal", target: "../../etc/passwd", content: "x", status: 400, detail: "target_path escapes upload base dir"},
		{name: "symlink escape", target: "etc-link/passwd", content: "x", status: 400, detail: "target_path escapes upload base dir"},
		{name: "temp area", target: ".sentinelx_uploads/x/meta.json", content: "x", status: 400, detail: "target_path escapes upload base dir"},
		{name: "blank", target: "   ", content: "x", status: 400, detail: "Missing target_path"},
		{name: "empty is 422", target: "", content: "x", status: 422, detail: "target_path: Field required"},
		{name: "too large", target: "big.bin", content: strings.Repeat("x", 65), status: 413, detail: "File too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Upload(ctx, upstream.UploadRequest{TargetPath: tt.target, Overwrite: tt.overwrite, Content: []byte(tt.content)})
			if tt.status != 0 {
				if ue := asError(t, err); ue.Status != tt.status || ue.Detail != tt.detail {
					t.Fatalf("got %v", ue)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.TargetPath != tt.stored || res.SHA256 != sha([]byte(tt.content)) || res.Mode != "single" {
				t.Errorf("res = %+v", res)
			}
			if b, _ := os.ReadFile(srv.RealPath(res.TargetPath)); string(b) != tt.content {
				t.Errorf("stored %q", b)
			}
		})
	}
}
