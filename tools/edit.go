package tools

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/pensados/sentinelx-mcp/upstream"
)

// editOptions are the optional fields shared by sentinel_edit and
// sentinel_edit_upload_complete, named as the agent names them.
type editOptions struct {
	Sudo             bool    `json:"sudo,omitempty" jsonschema:"Edit with sudo (default false)."`
	Pattern          *string `json:"pattern,omitempty" jsonschema:"Python regular expression (mode=regex)."`
	StartMarker      *string `json:"start_marker,omitempty" jsonschema:"Line that starts the block to replace (mode=replace-block)."`
	EndMarker        *string `json:"end_marker,omitempty" jsonschema:"Line that ends the block to replace (mode=replace-block)."`
	Count            int     `json:"count,omitempty" jsonschema:"How many matches to replace; 0 means all (default 0)."`
	Multiline        bool    `json:"multiline,omitempty" jsonschema:"Regex flag MULTILINE."`
	Dotall           bool    `json:"dotall,omitempty" jsonschema:"Regex flag DOTALL."`
	InterpretEscapes bool    `json:"interpret_escapes,omitempty" jsonschema:"Interpret backslash escapes such as \\n in old and new_text."`
	BackupDir        *string `json:"backup_dir,omitempty" jsonschema:"Directory for the backup copy (default: beside the file)."`
	Validator        *string `json:"validator,omitempty" jsonschema:"Command that checks the edited file; {file} is replaced by its path. Not together with validator_preset."`
	ValidatorPreset  *string `json:"validator_preset,omitempty" jsonschema:"Built-in check of the edited file."`
	Diff             bool    `json:"diff,omitempty" jsonschema:"Include a unified diff in the output."`
	DryRun           bool    `json:"dry_run,omitempty" jsonschema:"Show what would change without writing."`
	AllowNoChange    bool    `json:"allow_no_change,omitempty" jsonschema:"Succeed even if nothing changes."`
	Create           bool    `json:"create,omitempty" jsonschema:"Create the file if it does not exist."`
}

func (o editOptions) upstream() upstream.EditOptions {
	return upstream.EditOptions{
		Sudo: o.Sudo, Pattern: o.Pattern, StartMarker: o.StartMarker, EndMarker: o.EndMarker, Count: o.Count,
		Multiline: o.Multiline, Dotall: o.Dotall, InterpretEscapes: o.InterpretEscapes, BackupDir: trimPtr(o.BackupDir),
		Validator: o.Validator, ValidatorPreset: o.ValidatorPreset, Diff: o.Diff, DryRun: o.DryRun,
		AllowNoChange: o.AllowNoChange, Create: o.Create,
	}
}

// editRefine is built per use: a shared map could be changed by a caller.
func editRefine() map[string]prop {
	return map[string]prop{
		"mode":             {enum: []any{"replace", "regex", "replace-block", "append", "prepend", "write"}},
		"count":            {min: num(0), def: 0},
		"validator_preset": {enum: []any{"nginx", "json", "python", "sh", "yaml", "systemd"}},
	}
}

type editInput struct {
	Path    string  `json:"path" jsonschema:"The file to edit on the host (absolute path)."`
	Mode    string  `json:"mode" jsonschema:"replace (old → new_text), regex (pattern → new_text), replace-block (between start_marker and end_marker), append, prepend or write (whole file)."`
	Old     *string `json:"old,omitempty" jsonschema:"Literal text to find (mode=replace)."`
	NewText *string `json:"new_text,omitempty" jsonschema:"Replacement or new content (every mode)."`
	editOptions
	Target
}

func checkEdit(path, mode string, count int) error {
	switch {
	case strings.TrimSpace(path) == "":
		return inputError("path is required")
	case strings.TrimSpace(mode) == "":
		return inputError("mode is required")
	case count < 0:
		return inputError("count must be >= 0")
	}
	return nil
}

func editTool() tool {
	return newTool(Spec{
		Name:        "sentinel_edit",
		Scope:       ScopeEdit,
		Title:       "Edit a file",
		Description: "Edit a file on the host without shell quoting: replace text, regex, replace a marked block, append, prepend or write the whole file. A backup is kept; dry_run and diff show the change first; a validator (e.g. validator_preset=nginx) can check the result before it is kept. Returns {ok, path, mode, output, returncode, command}.",
	}, editRefine(), outputSchema[upstream.EditResult](),
		func(in editInput) []any {
			return []any{"path", truncate(in.Path, 300), "mode", in.Mode, "new_text_bytes", lenPtr(in.NewText),
				"old_bytes", lenPtr(in.Old), "dry_run", in.DryRun, "sudo", in.Sudo}
		},
		withDeps(runEdit))
}

// runEdit checks path, mode and count here, where the message can name the field, before the agent sees the edit.
func runEdit(ctx context.Context, d *Deps, in editInput) (json.RawMessage, error) {
	if err := checkEdit(in.Path, in.Mode, in.Count); err != nil {
		return nil, err
	}
	return agentJSON(d.agent(ctx).Edit(ctx, upstream.EditRequest{
		Path: strings.TrimSpace(in.Path), Mode: strings.TrimSpace(in.Mode),
		Old: in.Old, NewText: in.NewText, EditOptions: in.upstream(),
	}))
}

// editUploadInitInput has no arguments of its own: the upload is opened on
// the host named, and its id is bound to that host.
type editUploadInitInput struct{ Target }

func editUploadInitTool() tool {
	return newTool(Spec{
		Name:        "sentinel_edit_upload_init",
		Scope:       ScopeEdit,
		Title:       "Start a large edit",
		Description: "Start an edit whose old/new texts are too large for sentinel_edit: returns {upload_id}. Then send the texts with sentinel_edit_upload_file (role new, and old for mode=replace) and apply with sentinel_edit_upload_complete.",
	}, nil, outputSchema[upstream.EditUploadInitResult](), nil,
		withDeps(runEditUploadInit))
}

// runEditUploadInit opens the agent-side upload; the tool takes no input.
func runEditUploadInit(ctx context.Context, d *Deps, _ editUploadInitInput) (json.RawMessage, error) {
	r, err := d.agent(ctx).EditUploadInit(ctx)
	if err == nil {
		d.chunks().started(r.UploadID, hostName(ctx))
	}
	return agentJSON(r, err)
}

type editUploadFileInput struct {
	UploadID      string `json:"upload_id" jsonschema:"The id from sentinel_edit_upload_init."`
	Role          string `json:"role" jsonschema:"new (the replacement or new content) or old (the text to replace)."`
	ContentBase64 string `json:"content_base64,omitempty" jsonschema:"The text, base64-encoded. Give this or input_file."`
	InputFile     string `json:"input_file,omitempty" jsonschema:"A file on the bridge host to send instead, inside the directory the operator allowed (EDIT_UPLOAD_LOCAL_DIR)."`
	Filename      string `json:"filename,omitempty" jsonschema:"Name recorded for the part (default <role>.bin)."`
	Target
}

func editUploadFileTool() tool {
	return newTool(Spec{
		Name:        "sentinel_edit_upload_file",
		Scope:       ScopeEdit,
		Title:       "Send an edit text",
		Description: "Send the new or old text of a large edit started with sentinel_edit_upload_init, as content_base64 or as input_file (a file on the bridge host, only inside EDIT_UPLOAD_LOCAL_DIR). Returns {size, sha256} as stored by the agent.",
	}, map[string]prop{"role": {enum: []any{"new", "old"}}}, outputSchema[upstream.EditUploadFileResult](),
		func(in editUploadFileInput) []any {
			return []any{"upload_id", truncate(in.UploadID, 80), "role", in.Role, "content_base64_len", len(in.ContentBase64),
				"input_file", truncate(in.InputFile, 300)}
		},
		withDeps(runEditUploadFile))
}

// runEditUploadFile takes the text from exactly one source (inline base64 or a file inside EDIT_UPLOAD_LOCAL_DIR) and stores it as the upload's new or old part.
func runEditUploadFile(ctx context.Context, d *Deps, in editUploadFileInput) (json.RawMessage, error) {
	id, err := checkUploadID(in.UploadID, "sentinel_edit_upload_init")
	switch {
	case err != nil:
		return nil, err
	case in.Role != "new" && in.Role != "old":
		return nil, inputError("role must be 'new' or 'old'")
	case (in.ContentBase64 == "") == (in.InputFile == ""):
		return nil, inputError("provide exactly one of: content_base64 or input_file")
	}
	if err := d.chunks().sameHost(id, hostName(ctx), "sentinel_edit_upload_file"); err != nil {
		return nil, err
	}
	var content []byte
	name := in.Filename
	if in.ContentBase64 != "" {
		b, err := decodeBase64(in.ContentBase64, d.maxInline())
		if err != nil {
			return nil, err
		}
		content = b
	} else {
		b, base, err := readLocal(d.EditUploadLocalDir, in.InputFile, d.maxInline())
		if err != nil {
			return nil, err
		}
		content = b
		if name == "" {
			name = base
		}
	}
	return agentJSON(d.agent(ctx).EditUploadFile(ctx, upstream.EditUploadFileRequest{
		UploadID: id, Role: in.Role, Filename: name, Content: content,
	}))
}

type editUploadCompleteInput struct {
	UploadID string `json:"upload_id" jsonschema:"The id from sentinel_edit_upload_init."`
	Path     string `json:"path" jsonschema:"The file to edit on the host (absolute path)."`
	Mode     string `json:"mode" jsonschema:"As in sentinel_edit; the uploaded new (and old) texts take the place of new_text and old."`
	editOptions
	Target
}

func editUploadCompleteTool() tool {
	return newTool(Spec{
		Name:        "sentinel_edit_upload_complete",
		Scope:       ScopeEdit,
		Title:       "Apply a large edit",
		Description: "Apply an edit prepared with sentinel_edit_upload_init and sentinel_edit_upload_file, with the same modes and options as sentinel_edit. The upload id works once.",
	}, editRefine(), outputSchema[upstream.EditResult](),
		func(in editUploadCompleteInput) []any {
			return []any{"upload_id", truncate(in.UploadID, 80), "path", truncate(in.Path, 300), "mode", in.Mode, "dry_run", in.DryRun}
		},
		withDeps(runEditUploadComplete))
}

// runEditUploadComplete applies the edit with the uploaded parts; the agent deletes the upload afterwards.
func runEditUploadComplete(ctx context.Context, d *Deps, in editUploadCompleteInput) (json.RawMessage, error) {
	id, err := checkUploadID(in.UploadID, "sentinel_edit_upload_init")
	if err != nil {
		return nil, err
	}
	if err := checkEdit(in.Path, in.Mode, in.Count); err != nil {
		return nil, err
	}
	if err := d.chunks().sameHost(id, hostName(ctx), "sentinel_edit_upload_complete"); err != nil {
		return nil, err
	}
	r, err := d.agent(ctx).EditUploadComplete(ctx, upstream.EditUploadCompleteRequest{
		UploadID: id, Path: strings.TrimSpace(in.Path), Mode: strings.TrimSpace(in.Mode), EditOptions: in.upstream(),
	})
	if err == nil {
		d.chunks().done(id)
	}
	return agentJSON(r, err)
}

func lenPtr(s *string) int {
	if s == nil {
		return 0
	}
	return len(*s)
}
