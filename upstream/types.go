package upstream

import "encoding/json"

// Request and response types for the agent endpoints (UPSTREAM.md §4).
// JSON names are the agent's. Every response embeds [Body], so Raw is the
// body exactly as the agent sent it (token scrubbed), which tools hand to
// the model.

// Body is embedded in every response type: Raw is the agent's JSON body
// exactly as received (token scrubbed). One embedded type instead of a Raw
// field and a JSON method per response keeps the types alike by
// construction, and lets [fetch] fill Raw for any of them.
type Body struct {
	Raw json.RawMessage `json:"-"`
}

// JSON returns the agent's body exactly as sent (token scrubbed): what the
// MCP layer hands to the model.
func (b *Body) JSON() json.RawMessage { return b.Raw }

func (b *Body) keep(raw json.RawMessage) { b.Raw = raw }

// ProcessResult is the agent's process-result object (UPSTREAM.md §3.3).
// Output is "⚠️ Sin salida" when the process printed nothing and
// "⏱️ Timeout" (ReturnCode -1) when it was killed.
type ProcessResult struct {
	Output     string  `json:"output"`
	Duration   float64 `json:"duration"`
	ReturnCode int     `json:"returncode"`
}

// ExecRequest is POST /exec. The agent checks Cmd against its prefix
// allowlist without trimming it.
type ExecRequest struct {
	Cmd string `json:"cmd"`
}

// ExecResult is a successful /exec. A non-zero ReturnCode is still a
// success at this layer; a refused command is an *Error of KindRefused.
type ExecResult struct {
	ProcessResult
	Body
}

// ServiceRequest is POST /service.
type ServiceRequest struct {
	Service string `json:"service"`
	Action  string `json:"action"`
}

// ServiceResult is a /service run. OK is returncode == 0; Command is the
// exact shell string the agent ran.
type ServiceResult struct {
	ProcessResult
	OK      bool   `json:"ok"`
	Service string `json:"service"`
	Action  string `json:"action"`
	Command string `json:"command"`
	Body
}

// RestartRequest is POST /restart.
type RestartRequest struct {
	Service string `json:"service"`
}

// RestartResult is a triggered restart. The agent does not wait for it, so
// OK only means "triggered".
type RestartResult struct {
	OK      bool   `json:"ok"`
	Service string `json:"service"`
	Message string `json:"message"`
	Body
}

// EditOptions are the /edit fields shared with /edit/upload/complete.
// Bools and Count are always sent (as the old bridge did); pointer fields
// only when set, because the agent treats null and absent alike but an
// empty string as present.
type EditOptions struct {
	Sudo             bool    `json:"sudo"`
	Pattern          *string `json:"pattern,omitempty"`
	StartMarker      *string `json:"start_marker,omitempty"`
	EndMarker        *string `json:"end_marker,omitempty"`
	Count            int     `json:"count"`
	Multiline        bool    `json:"multiline"`
	Dotall           bool    `json:"dotall"`
	InterpretEscapes bool    `json:"interpret_escapes"`
	BackupDir        *string `json:"backup_dir,omitempty"`
	Validator        *string `json:"validator,omitempty"`
	ValidatorPreset  *string `json:"validator_preset,omitempty"`
	Diff             bool    `json:"diff"`
	DryRun           bool    `json:"dry_run"`
	AllowNoChange    bool    `json:"allow_no_change"`
	Create           bool    `json:"create"`
}

// EditRequest is POST /edit. Mode is one of replace, regex, replace-block,
// append, prepend, write; the agent answers 422 for anything else.
type EditRequest struct {
	Path    string  `json:"path"`
	Mode    string  `json:"mode"`
	Old     *string `json:"old,omitempty"`
	NewText *string `json:"new_text,omitempty"`
	EditOptions
}

// EditResult is /edit and /edit/upload/complete. A helper failure is a
// result with OK false and the helper's "ERROR: ..." text in Output, not
// an *Error, because the model needs the whole result to recover.
type EditResult struct {
	OK       bool     `json:"ok"`
	Path     string   `json:"path"`
	Mode     string   `json:"mode"`
	Sudo     bool     `json:"sudo"`
	UploadID string   `json:"upload_id,omitempty"`
	Command  []string `json:"command"`
	ProcessResult
	Body
}

// EditUploadInitResult is POST /edit/upload/init.
type EditUploadInitResult struct {
	OK       bool   `json:"ok"`
	UploadID string `json:"upload_id"`
	TempDir  string `json:"temp_dir"`
	Body
}

// EditUploadFileRequest is the multipart POST /edit/upload/file.
type EditUploadFileRequest struct {
	UploadID string
	// Role is "new" or "old".
	Role string
	// Filename is the part's file name; the agent requires one. Default
	// "<role>.bin".
	Filename string
	Content  []byte
}

// EditUploadFileResult is a stored edit-upload file.
type EditUploadFileResult struct {
	OK       bool   `json:"ok"`
	UploadID string `json:"upload_id"`
	Role     string `json:"role"`
	Filename string `json:"filename"`
	StoredAs string `json:"stored_as"`
	Size     int64  `json:"size"`
	SHA256   string `json:"sha256"`
	Body
}

// EditUploadCompleteRequest is POST /edit/upload/complete: the edit is
// driven by the uploaded new/old files instead of inline text.
type EditUploadCompleteRequest struct {
	UploadID string `json:"upload_id"`
	Path     string `json:"path"`
	Mode     string `json:"mode"`
	EditOptions
}

// ScriptRunRequest is POST /script/run. Timeout 0 means the agent default
// (60 s); it must be 1..300 otherwise. Cwd, Filename and Env are always
// sent, null when nil; Args only when non-nil; Cleanup only when set (the
// agent defaults it to true, so a nil Cleanup cleans up).
type ScriptRunRequest struct {
	Interpreter string            `json:"interpreter"`
	Content     string            `json:"content"`
	Args        []string          `json:"args,omitzero"`
	Cwd         *string           `json:"cwd"`
	Timeout     int               `json:"timeout"`
	Sudo        bool              `json:"sudo"`
	Cleanup     *bool             `json:"cleanup,omitempty"`
	Filename    *string           `json:"filename"`
	Env         map[string]string `json:"env"`
}

// ScriptResult is a script run. ScriptPath and Workdir are present only
// when cleanup was false.
type ScriptResult struct {
	OK          bool     `json:"ok"`
	Interpreter string   `json:"interpreter"`
	Sudo        bool     `json:"sudo"`
	Cwd         *string  `json:"cwd"`
	Cleanup     bool     `json:"cleanup"`
	Command     []string `json:"command"`
	ProcessResult
	ScriptPath string `json:"script_path,omitempty"`
	Workdir    string `json:"workdir,omitempty"`
	Body
}

// UploadRequest is the multipart single-request POST /upload.
type UploadRequest struct {
	// TargetPath is relative to the agent's upload base; a leading "/" is
	// stripped by the agent, and escapes are refused (400).
	TargetPath string
	Overwrite  bool
	// Filename is the part's file name. Default: base of TargetPath, or
	// "upload.bin".
	Filename string
	Content  []byte
}

// UploadResult is a stored file: /upload (Mode "single", Filename set) or
// /upload/complete (Mode "chunked", UploadID set).
type UploadResult struct {
	OK         bool   `json:"ok"`
	Mode       string `json:"mode"`
	UploadID   string `json:"upload_id,omitempty"`
	TargetPath string `json:"target_path"`
	Size       int64  `json:"size"`
	SHA256     string `json:"sha256"`
	Filename   string `json:"filename,omitempty"`
	Body
}

// UploadInitRequest is POST /upload/init. TotalSize 0 disables the
// agent's size check at complete; Filename is stored but unused.
type UploadInitRequest struct {
	TargetPath string  `json:"target_path"`
	Overwrite  bool    `json:"overwrite"`
	TotalSize  int64   `json:"total_size"`
	Filename   *string `json:"filename"`
}

// UploadInitResult starts a chunked upload.
type UploadInitResult struct {
	OK         bool   `json:"ok"`
	Mode       string `json:"mode"`
	UploadID   string `json:"upload_id"`
	TargetPath string `json:"target_path"`
	TotalSize  int64  `json:"total_size"`
	Body
}

// UploadChunkRequest is the multipart POST /upload/chunk. The agent
// concatenates parts in index order at complete; re-sending an index
// replaces that chunk.
type UploadChunkRequest struct {
	UploadID string
	Index    int
	// Filename is the part's file name. Default "chunk.bin".
	Filename string
	Content  []byte
}

// UploadChunkResult acknowledges one chunk.
type UploadChunkResult struct {
	OK        bool   `json:"ok"`
	UploadID  string `json:"upload_id"`
	Index     int    `json:"index"`
	ChunkSize int64  `json:"chunk_size"`
	Body
}

// UploadCompleteRequest is POST /upload/complete. SHA256, when set, is
// compared case-sensitively with the agent's lowercase hex digest.
type UploadCompleteRequest struct {
	UploadID string `json:"upload_id"`
	SHA256   string `json:"sha256,omitempty"`
}
