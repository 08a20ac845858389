package tools

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/pensados/sentinelx-mcp/tools/policy"
)

// prechecked is implemented by tool inputs with arguments that must be
// checked before anything else sees them — the authorization policy
// included: host paths and upload ids. A rule can only judge what it reads,
// so an argument that the agent would resolve differently from how a rule
// reads it (a ".." after a symlink, an id joined raw to a directory) is
// refused here, for every caller, with or without POLICY_FILE.
type prechecked interface {
	precheck() error
}

// precheck runs in's checks, if it has any.
func precheck(in any) error {
	if p, ok := in.(prechecked); ok {
		return p.precheck()
	}
	return nil
}

// uploadIDFormat is what the agent hands out for chunked and edit uploads:
// uuid4().hex, 32 lowercase hex digits (UPSTREAM.md §4.7, §4.12 and every
// capture). The agent joins the id to its temp directory without checking
// it (§7 item 4), so anything else could point outside it.
var uploadIDFormat = regexp.MustCompile(`^[0-9a-f]{32}$`)

// checkUploadID returns the trimmed id, or an error saying what an id
// looks like. The id never reaches the agent otherwise.
func checkUploadID(raw, from string) (string, error) {
	id := strings.TrimSpace(raw)
	switch {
	case id == "":
		return "", inputError("upload_id is required")
	case !uploadIDFormat.MatchString(id):
		return "", inputError(fmt.Sprintf("upload_id must be the id %s returned: 32 lowercase hex digits, got %q",
			from, truncate(id, 80)))
	}
	return id, nil
}

// checkHostPath refuses a host path (path, backup_dir, cwd) that is not
// canonical: "." or ".." segments, empty segments ("//") or a trailing
// slash. The kernel resolves ".." after following symlinks, so
// "/var/run/../etc/ssh/x" is /etc/ssh/x on a host where /var/run → /run,
// while any lexical reading of it says /var/etc/ssh/x; rather than guess,
// the caller is asked for the path itself. Empty means "not given".
func checkHostPath(name, p string) error {
	if p == "" {
		return nil
	}
	if why := policy.PathProblem(p); why != "" {
		return inputError(fmt.Sprintf("%s %q %s: give the canonical absolute path (no \".\" or \"..\" segments, no \"//\", no trailing slash; what `realpath` prints on the host)",
			name, truncate(p, 300), why))
	}
	return nil
}

// agentTempDir is where the agent keeps pending uploads, inside its upload
// directory (UPSTREAM.md §4.12): TMP/<id>/meta.json holds the upload's
// absolute destination, so a file uploaded over it redirects that upload
// anywhere on the host (§7 item 4).
const agentTempDir = ".sentinelx_uploads"

// checkTargetPath is checkHostPath for target_path, which is relative to
// the agent's upload directory and may start with one "/". The agent's own
// temp directory inside it is refused.
func checkTargetPath(p string) error {
	if p == "" {
		return nil
	}
	rooted := "/" + strings.TrimPrefix(p, "/")
	if why := policy.PathProblem(rooted); why != "" {
		return inputError(fmt.Sprintf("target_path %q %s: give the path inside the upload directory without \".\" or \"..\" segments, \"//\" or a trailing slash (e.g. site/index.html)",
			truncate(p, 300), why))
	}
	if first, _, _ := strings.Cut(rooted[1:], "/"); first == agentTempDir {
		return inputError(fmt.Sprintf("target_path %q is inside the agent's temporary upload directory (%s/), where pending uploads keep their metadata; choose another directory",
			truncate(p, 300), agentTempDir))
	}
	return nil
}

// trimPtr trims an optional string argument in place, so the policy and
// the agent see the same value.
func trimPtr(s *string) *string {
	if s == nil {
		return nil
	}
	t := strings.TrimSpace(*s)
	return &t
}

func (in editInput) precheck() error {
	if err := checkHostPath("path", strings.TrimSpace(in.Path)); err != nil {
		return err
	}
	return in.editOptions.precheck()
}

func (o editOptions) precheck() error {
	if o.BackupDir != nil {
		return checkHostPath("backup_dir", strings.TrimSpace(*o.BackupDir))
	}
	return nil
}

func (in editUploadCompleteInput) precheck() error {
	if _, err := checkUploadID(in.UploadID, "sentinel_edit_upload_init"); err != nil {
		return err
	}
	if err := checkHostPath("path", strings.TrimSpace(in.Path)); err != nil {
		return err
	}
	return in.editOptions.precheck()
}

func (in editUploadFileInput) precheck() error {
	_, err := checkUploadID(in.UploadID, "sentinel_edit_upload_init")
	return err
}

func (in uploadChunkInput) precheck() error {
	_, err := checkUploadID(in.UploadID, "sentinel_upload_init")
	return err
}

func (in uploadCompleteInput) precheck() error {
	_, err := checkUploadID(in.UploadID, "sentinel_upload_init")
	return err
}

func (in uploadFileInput) precheck() error { return checkTargetPath(strings.TrimSpace(in.TargetPath)) }

func (in uploadInitInput) precheck() error { return checkTargetPath(strings.TrimSpace(in.TargetPath)) }

func (in scriptInput) precheck() error {
	if in.Cwd != nil {
		return checkHostPath("cwd", strings.TrimSpace(*in.Cwd))
	}
	return nil
}
