package tools

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/pensados/sentinelx-mcp/upstream"
)

type uploadFileInput struct {
	TargetPath    string `json:"target_path" jsonschema:"Where to store the file, relative to the agent's upload directory (see sentinel_capabilities: upload_capabilities.base_dir)."`
	FileURL       string `json:"file_url,omitempty" jsonschema:"An https URL to download the file from; only URLs under the prefixes the operator allowed (UPLOAD_URL_ALLOW). Give this or content_base64."`
	ContentBase64 string `json:"content_base64,omitempty" jsonschema:"The file, base64-encoded. Give this or file_url. For files over a few MiB use sentinel_upload_init/chunk/complete."`
	Filename      string `json:"filename,omitempty" jsonschema:"Name recorded for the upload (default: the base name of target_path or of the URL)."`
	Overwrite     bool   `json:"overwrite,omitempty" jsonschema:"Replace an existing file (default false)."`
	Target
}

func uploadFileTool() tool {
	return newTool(Spec{
		Name:        "sentinel_upload_file",
		Scope:       ScopeUpload,
		Title:       "Upload a file",
		Description: "Store one file on the host under the agent's upload directory, from content_base64 or from an allowed https file_url. Returns {ok, target_path, size, sha256, upload_mode}. An existing file is kept unless overwrite is true.",
	}, nil, outputSchema[upstream.UploadResult](),
		func(in uploadFileInput) []any {
			return []any{"target_path", truncate(in.TargetPath, 300), "file_url", redactURL(in.FileURL),
				"content_base64_len", len(in.ContentBase64), "overwrite", in.Overwrite}
		},
		withDeps(runUploadFile))
}

// runUploadFile stores one file from exactly one source, inline base64 or an allowed URL, and says which in upload_mode.
func runUploadFile(ctx context.Context, d *Deps, in uploadFileInput) (json.RawMessage, error) {
	target := strings.TrimSpace(in.TargetPath)
	switch {
	case target == "":
		return nil, inputError("target_path is required")
	case (in.FileURL == "") == (in.ContentBase64 == ""):
		return nil, inputError("provide exactly one of: file_url or content_base64")
	}
	var content []byte
	mode, name := "content_base64", in.Filename
	if in.ContentBase64 != "" {
		b, err := decodeBase64(in.ContentBase64, d.maxInline())
		if err != nil {
			return nil, err
		}
		content = b
	} else {
		mode = "file_url"
		b, base, err := d.fetcher().Fetch(ctx, strings.TrimSpace(in.FileURL))
		if err != nil {
			return nil, err
		}
		content = b
		if name == "" {
			name = base
		}
	}
	r, err := d.agent(ctx).Upload(ctx, upstream.UploadRequest{
		TargetPath: target, Overwrite: in.Overwrite, Filename: name, Content: content,
	})
	if err != nil {
		return nil, err
	}
	return withField(r.Raw, "upload_mode", mode)
}

type uploadInitInput struct {
	TargetPath string  `json:"target_path" jsonschema:"Where to store the file, relative to the agent's upload directory."`
	TotalSize  int64   `json:"total_size" jsonschema:"The file's total size in bytes; checked when the upload completes (0 skips the check)."`
	Filename   *string `json:"filename,omitempty" jsonschema:"Name recorded for the upload."`
	Overwrite  bool    `json:"overwrite,omitempty" jsonschema:"Replace an existing file (default false)."`
	Target
}

func uploadInitTool() tool {
	return newTool(Spec{
		Name:        "sentinel_upload_init",
		Scope:       ScopeUpload,
		Title:       "Start a chunked upload",
		Description: "Start a chunked upload for a large file: returns {upload_id}. Send the file in order with sentinel_upload_chunk (index 0, 1, …; a few MiB each), then call sentinel_upload_complete with the file's sha256 to assemble and verify it.",
	}, map[string]prop{"total_size": {min: num(0)}}, outputSchema[upstream.UploadInitResult](),
		func(in uploadInitInput) []any {
			return []any{"target_path", truncate(in.TargetPath, 300), "total_size", in.TotalSize, "overwrite", in.Overwrite}
		},
		withDeps(runUploadInit))
}

// runUploadInit starts a chunked upload and records its id, so complete can spot missing chunks.
func runUploadInit(ctx context.Context, d *Deps, in uploadInitInput) (json.RawMessage, error) {
	target := strings.TrimSpace(in.TargetPath)
	switch {
	case target == "":
		return nil, inputError("target_path is required")
	case in.TotalSize < 0:
		return nil, inputError("total_size must be >= 0")
	}
	r, err := d.agent(ctx).UploadInit(ctx, upstream.UploadInitRequest{
		TargetPath: target, Overwrite: in.Overwrite, TotalSize: in.TotalSize, Filename: in.Filename,
	})
	if err == nil {
		d.chunks().started(r.UploadID, hostName(ctx))
	}
	return agentJSON(r, err)
}

type uploadChunkInput struct {
	UploadID    string `json:"upload_id" jsonschema:"The id from sentinel_upload_init."`
	Index       int    `json:"index" jsonschema:"The chunk's position, from 0. Sending an index again replaces that chunk."`
	ChunkBase64 string `json:"chunk_base64" jsonschema:"The chunk's bytes, base64-encoded."`
	Filename    string `json:"filename,omitempty" jsonschema:"Name recorded for the part (default chunk.bin)."`
	Target
}

func uploadChunkTool() tool {
	return newTool(Spec{
		Name:        "sentinel_upload_chunk",
		Scope:       ScopeUpload,
		Title:       "Send one chunk",
		Description: "Send one chunk of a chunked upload. Returns {upload_id, index, chunk_size}; the bridge checks that the agent stored exactly the bytes sent.",
	}, map[string]prop{"index": {min: num(0)}}, outputSchema[upstream.UploadChunkResult](),
		func(in uploadChunkInput) []any {
			return []any{"upload_id", truncate(in.UploadID, 80), "index", in.Index, "chunk_base64_len", len(in.ChunkBase64)}
		},
		withDeps(runUploadChunk))
}

// runUploadChunk sends one chunk and records its index for the gap check at complete.
func runUploadChunk(ctx context.Context, d *Deps, in uploadChunkInput) (json.RawMessage, error) {
	id, err := checkUploadID(in.UploadID, "sentinel_upload_init")
	switch {
	case err != nil:
		return nil, err
	case in.Index < 0:
		return nil, inputError("index must be >= 0")
	case in.ChunkBase64 == "":
		return nil, inputError("chunk_base64 is required")
	}
	if err := d.chunks().sameHost(id, hostName(ctx), "sentinel_upload_chunk"); err != nil {
		return nil, err
	}
	b, err := decodeBase64(in.ChunkBase64, d.maxInline())
	if err != nil {
		return nil, err
	}
	r, err := d.agent(ctx).UploadChunk(ctx, upstream.UploadChunkRequest{
		UploadID: id, Index: in.Index, Filename: in.Filename, Content: b,
	})
	if err == nil {
		d.chunks().stored(id, in.Index)
	}
	return agentJSON(r, err)
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

type uploadCompleteInput struct {
	UploadID string `json:"upload_id" jsonschema:"The id from sentinel_upload_init."`
	SHA256   string `json:"sha256,omitempty" jsonschema:"The whole file's SHA-256 as 64 hex digits; the agent refuses the file if it differs. Strongly recommended."`
	Target
}

func uploadCompleteTool() tool {
	return newTool(Spec{
		Name:        "sentinel_upload_complete",
		Scope:       ScopeUpload,
		Title:       "Finish a chunked upload",
		Description: "Assemble the chunks in index order, check the total size and the sha256, and move the file into place. Returns {ok, target_path, size, sha256}. A mismatch fails and nothing is written.",
	}, nil, outputSchema[upstream.UploadResult](),
		func(in uploadCompleteInput) []any {
			return []any{"upload_id", truncate(in.UploadID, 80), "sha256", truncate(in.SHA256, 64)}
		},
		withDeps(runUploadComplete))
}

// runUploadComplete refuses a malformed sha256 or a gap in the chunk indexes before the agent assembles anything.
func runUploadComplete(ctx context.Context, d *Deps, in uploadCompleteInput) (json.RawMessage, error) {
	sum := strings.TrimSpace(in.SHA256)
	id, err := checkUploadID(in.UploadID, "sentinel_upload_init")
	if err != nil {
		return nil, err
	}
	if sum != "" && !sha256Hex.MatchString(sum) {
		return nil, inputError(fmt.Sprintf("sha256 must be 64 hex digits, got %d characters", len(sum)))
	}
	if err := d.chunks().sameHost(id, hostName(ctx), "sentinel_upload_complete"); err != nil {
		return nil, err
	}
	if sum == "" {
		// Without a checksum the chunks this bridge saw are the only check
		// against a gap. With one the agent verifies the whole file, and
		// this replica may not have seen every chunk (replicas behind a
		// load balancer each see some): the agent decides.
		if err := d.chunks().gap(id); err != nil {
			return nil, err
		}
	}
	r, err := d.agent(ctx).UploadComplete(ctx, upstream.UploadCompleteRequest{UploadID: id, SHA256: strings.ToLower(sum)})
	if err == nil {
		d.chunks().done(id)
	}
	return agentJSON(r, err)
}

// redactURL keeps what an auditor needs of a download URL — scheme, host
// and path — and drops userinfo and the query, where pre-signed URLs keep
// their credentials.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return truncate(u.String(), 300)
}
