package tools

import (
	"fmt"
	"regexp"
	"strings"
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

func (in editUploadCompleteInput) precheck() error {
	_, err := checkUploadID(in.UploadID, "sentinel_edit_upload_init")
	return err
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
