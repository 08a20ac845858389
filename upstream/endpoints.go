package upstream

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"path"
	"strconv"
	"strings"
	"time"
)

// Capabilities is GET /capabilities (UPSTREAM.md §4.2). Only the parts a
// tool might branch on are typed; the full descriptor is in Raw.
type Capabilities struct {
	Agent           string                 `json:"agent"`
	Version         string                 `json:"version"`
	AllowedCommands []string               `json:"allowed_commands"`
	ServiceActions  map[string]ServiceInfo `json:"service_actions"`
	Categories      map[string][]string    `json:"categories"`
	Help            map[string]string      `json:"help"`
	Body
}

// ServiceInfo is one entry of the agent's service registry.
type ServiceInfo struct {
	Unit        string            `json:"unit"`
	Manager     string            `json:"manager"`
	Actions     []string          `json:"actions"`
	Description string            `json:"description"`
	Checks      map[string]string `json:"checks"`
	Risk        string            `json:"risk"`
}

// Capabilities fetches the agent's self-description.
func (c *Client) Capabilities(ctx context.Context) (*Capabilities, error) {
	return fetch[Capabilities](ctx, c, call{method: http.MethodGet, path: "/capabilities"})
}

// Exec runs an allowlisted command through the agent.
func (c *Client) Exec(ctx context.Context, req ExecRequest) (*ExecResult, error) {
	return postJSON[ExecResult](ctx, c, "/exec", req, 0)
}

// Service runs a registry action (status, reload, ...) for a service.
func (c *Client) Service(ctx context.Context, req ServiceRequest) (*ServiceResult, error) {
	return postJSON[ServiceResult](ctx, c, "/service", req, 0)
}

// Restart triggers a service restart (fire-and-forget on the agent).
func (c *Client) Restart(ctx context.Context, req RestartRequest) (*RestartResult, error) {
	return postJSON[RestartResult](ctx, c, "/restart", req, 0)
}

// Edit applies a structured edit through the agent's safe-edit helper.
func (c *Client) Edit(ctx context.Context, req EditRequest) (*EditResult, error) {
	return postJSON[EditResult](ctx, c, "/edit", req, 0)
}

// EditUploadInit opens an edit upload; its id is used by EditUploadFile
// and EditUploadComplete.
func (c *Client) EditUploadInit(ctx context.Context) (*EditUploadInitResult, error) {
	return postJSON[EditUploadInitResult](ctx, c, "/edit/upload/init", struct{}{}, 0)
}

// EditUploadFile stores the "new" or "old" text of an edit upload.
func (c *Client) EditUploadFile(ctx context.Context, req EditUploadFileRequest) (*EditUploadFileResult, error) {
	name := req.Filename
	if name == "" {
		name = req.Role + ".bin"
	}
	body, ct, err := buildMultipart([][2]string{{"upload_id", req.UploadID}, {"role", req.Role}},
		"file", name, req.Content)
	if err != nil {
		return nil, err
	}
	return fetch[EditUploadFileResult](ctx, c, call{method: http.MethodPost, path: "/edit/upload/file", body: body,
		contentType: ct, timeout: c.uploadTimeout(len(req.Content))})
}

// EditUploadComplete runs the edit with the uploaded files. The agent
// deletes the upload afterwards, so an id works once.
func (c *Client) EditUploadComplete(ctx context.Context, req EditUploadCompleteRequest) (*EditResult, error) {
	return postJSON[EditResult](ctx, c, "/edit/upload/complete", req, 0)
}

// ScriptGrace is added to a script's own timeout to form the call
// deadline, so the agent's "⏱️ Timeout" result arrives before we give up.
const ScriptGrace = 15 * time.Second

// defaultScriptTimeout is the agent's default ScriptRunRequest.timeout.
const defaultScriptTimeout = 60

// ScriptRun runs a temporary bash or python3 script. Its deadline is the
// script's timeout (60 s when 0) plus [ScriptGrace], not Options.Timeout.
func (c *Client) ScriptRun(ctx context.Context, req ScriptRunRequest) (*ScriptResult, error) {
	if req.Timeout == 0 {
		req.Timeout = defaultScriptTimeout
	}
	d := time.Duration(req.Timeout)*time.Second + ScriptGrace
	if req.Timeout < 0 {
		d = c.timeout // the agent answers 422 at once
	}
	return postJSON[ScriptResult](ctx, c, "/script/run", req, d)
}

// Upload stores a file in one multipart request.
func (c *Client) Upload(ctx context.Context, req UploadRequest) (*UploadResult, error) {
	name := req.Filename
	if name == "" {
		name = path.Base(strings.TrimSpace(req.TargetPath))
		if name == "." || name == "/" || name == "" {
			name = "upload.bin"
		}
	}
	body, ct, err := buildMultipart([][2]string{
		{"target_path", req.TargetPath}, {"overwrite", strconv.FormatBool(req.Overwrite)},
	}, "file", name, req.Content)
	if err != nil {
		return nil, err
	}
	return fetch[UploadResult](ctx, c, call{method: http.MethodPost, path: "/upload", body: body,
		contentType: ct, timeout: c.uploadTimeout(len(req.Content))})
}

// UploadInit starts a chunked upload.
func (c *Client) UploadInit(ctx context.Context, req UploadInitRequest) (*UploadInitResult, error) {
	return postJSON[UploadInitResult](ctx, c, "/upload/init", req, 0)
}

// UploadChunk sends one chunk. The agent has no per-chunk checksum (the
// sha256 goes to UploadComplete), so the client checks instead that the
// agent stored exactly the bytes sent.
func (c *Client) UploadChunk(ctx context.Context, req UploadChunkRequest) (*UploadChunkResult, error) {
	name := req.Filename
	if name == "" {
		name = "chunk.bin"
	}
	body, ct, err := buildMultipart([][2]string{
		{"upload_id", req.UploadID}, {"index", strconv.Itoa(req.Index)},
	}, "chunk", name, req.Content)
	if err != nil {
		return nil, err
	}
	cl := call{method: http.MethodPost, path: "/upload/chunk", body: body,
		contentType: ct, timeout: c.uploadTimeout(len(req.Content))}
	v, err := fetch[UploadChunkResult](ctx, c, cl)
	if err != nil {
		return nil, err
	}
	if v.ChunkSize != int64(len(req.Content)) {
		return nil, c.fail(cl, &Error{Kind: KindBadResponse, Status: http.StatusOK, Body: v.Raw,
			Detail: fmt.Sprintf("agent stored %d bytes for chunk %d but %d were sent; resend the chunk",
				v.ChunkSize, req.Index, len(req.Content))})
	}
	return v, nil
}

// UploadComplete assembles the chunks, checks size and sha256, and moves
// the file into place.
func (c *Client) UploadComplete(ctx context.Context, req UploadCompleteRequest) (*UploadResult, error) {
	return postJSON[UploadResult](ctx, c, "/upload/complete", req, 0)
}

// UploadRate is the slowest transfer rate an upload deadline allows for:
// a payload of n bytes gets Options.Timeout + n/UploadRate seconds, i.e.
// one extra second per MiB (a 10 MiB chunk: 60 s + 10 s).
const UploadRate = 1 << 20

func (c *Client) uploadTimeout(n int) time.Duration {
	return c.timeout + time.Duration(int64(n)*int64(time.Second)/UploadRate)
}

// buildMultipart encodes text fields (in order) and then one file part,
// the layout the old bridge sent and the agent's FastAPI form expects.
func buildMultipart(fields [][2]string, fileField, filename string, content []byte) ([]byte, string, error) {
	var buf bytes.Buffer
	buf.Grow(len(content) + 1024)
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			return nil, "", fmt.Errorf("upstream: encoding multipart: %w", err)
		}
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`,
		escapeQuotes(fileField), escapeQuotes(filename)))
	h.Set("Content-Type", "application/octet-stream")
	pw, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", fmt.Errorf("upstream: encoding multipart: %w", err)
	}
	if _, err := pw.Write(content); err != nil {
		return nil, "", fmt.Errorf("upstream: encoding multipart: %w", err)
	}
	if err := mw.Close(); err != nil {
		return nil, "", fmt.Errorf("upstream: encoding multipart: %w", err)
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

var quoteEscaper = strings.NewReplacer("\\", "\\\\", `"`, "\\\"", "\r", "%0D", "\n", "%0A")

func escapeQuotes(s string) string { return quoteEscaper.Replace(s) }
