package sandbox

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

func editModes() []string {
	return []string{"replace", "regex", "replace-block", "append", "prepend", "write"}
}

func validatorPresets() []string {
	return []string{"nginx", "json", "python", "sh", "yaml", "systemd"}
}

// editOptionFields are the optional fields shared by EditRequest and
// EditCompleteRequest, in declaration order.
func editOptionFields() []field {
	return []field{
		{name: "sudo", kind: kBool},
		{name: "pattern", kind: kOptStr},
		{name: "start_marker", kind: kOptStr},
		{name: "end_marker", kind: kOptStr},
		{name: "count", kind: kInt},
		{name: "multiline", kind: kBool},
		{name: "dotall", kind: kBool},
		{name: "interpret_escapes", kind: kBool},
		{name: "backup_dir", kind: kOptStr},
		{name: "validator", kind: kOptStr},
		{name: "validator_preset", kind: kOptLiteral, lits: validatorPresets()},
		{name: "diff", kind: kBool},
		{name: "dry_run", kind: kBool},
		{name: "allow_no_change", kind: kBool},
		{name: "create", kind: kBool},
	}
}

func editFields() []field {
	f := []field{
		{name: "path", kind: kStr, required: true},
		{name: "mode", kind: kLiteral, required: true, lits: editModes()},
		{name: "sudo", kind: kBool},
		{name: "old", kind: kOptStr},
		{name: "new_text", kind: kOptStr},
	}
	for _, o := range editOptionFields()[1:] {
		f = append(f, o)
	}
	return f
}

func editCompleteFields() []field {
	return append([]field{
		{name: "upload_id", kind: kStr, required: true},
		{name: "path", kind: kStr, required: true},
		{name: "mode", kind: kLiteral, required: true, lits: editModes()},
	}, editOptionFields()...)
}

// editParamsFrom reads the shared fields of a validated model.
func editParamsFrom(m *model) editParams {
	return editParams{
		path: m.str("path"), mode: m.str("mode"),
		old: m.optStr("old"), newText: m.optStr("new_text"),
		pattern: m.optStr("pattern"), startMarker: m.optStr("start_marker"), endMarker: m.optStr("end_marker"),
		count:     m.integer("count", 0),
		multiline: m.boolean("multiline", false), dotall: m.boolean("dotall", false),
		escapes:   m.boolean("interpret_escapes", false),
		backupDir: m.optStr("backup_dir"), validator: m.optStr("validator"), preset: m.optStr("validator_preset"),
		diff: m.boolean("diff", false), dryRun: m.boolean("dry_run", false),
		allowNoChange: m.boolean("allow_no_change", false), create: m.boolean("create", false),
	}
}

// commonEditRule is the model rules shared by both edit models, in order.
func commonEditRule(p editParams) string {
	switch {
	case strings.TrimSpace(p.path) == "":
		return "path es obligatorio"
	case deref(p.validator) != "" && deref(p.preset) != "":
		return "No puedes usar validator y validator_preset juntos"
	case p.count < 0:
		return "count no puede ser negativo"
	}
	return ""
}

func markersMissing(p editParams) bool {
	return deref(p.startMarker) == "" || deref(p.endMarker) == ""
}

// editRule is EditRequest's model validator (UPSTREAM.md §4.6).
func editRule(p editParams) string {
	if msg := commonEditRule(p); msg != "" {
		return msg
	}
	need := "En mode=" + p.mode + " debes indicar "
	switch p.mode {
	case "replace":
		if deref(p.old) == "" {
			return need + "old"
		}
	case "regex":
		if deref(p.pattern) == "" {
			return need + "pattern"
		}
	case "replace-block":
		if markersMissing(p) {
			return need + "start_marker y end_marker"
		}
	}
	if p.newText == nil {
		return need + "new_text"
	}
	return ""
}

// editResult is the /edit body, in the agent's key order.
type editResult struct {
	OK       bool     `json:"ok"`
	Path     string   `json:"path"`
	Mode     string   `json:"mode"`
	Sudo     bool     `json:"sudo"`
	UploadID *string  `json:"upload_id,omitempty"`
	Command  []string `json:"command"`
	procResult
}

func (a *Agent) handleEdit(w http.ResponseWriter, r *http.Request) {
	m, errs := parseModel(r, editFields())
	if errs != nil {
		write422(w, errs)
		return
	}
	p := editParamsFrom(m)
	if msg := editRule(p); msg != "" {
		write422(w, modelError(m.body, msg))
		return
	}
	if !a.authorizeWithDirs(w, r) {
		return
	}
	job := virtualJoin(tmpBase, "edit_job_"+newID())
	if err := os.MkdirAll(a.sb.real(job), 0o755); err != nil {
		writeInternalError(w)
		return
	}
	defer os.RemoveAll(a.sb.real(job))
	var oldFile, newFile string
	if p.old != nil {
		oldFile = virtualJoin(job, "old.txt")
		_ = os.WriteFile(a.sb.real(oldFile), []byte(*p.old), 0o600)
	}
	if p.newText != nil {
		newFile = virtualJoin(job, "new.txt")
		_ = os.WriteFile(a.sb.real(newFile), []byte(*p.newText), 0o600)
	}
	sudo := m.boolean("sudo", false)
	res := a.runHelper(r.Context(), p)
	a.recordEdit(p.path, res)
	writeJSON(w, http.StatusOK, editResult{OK: res.ReturnCode == 0, Path: p.path, Mode: p.mode, Sudo: sudo,
		Command: a.helperArgv(p, sudo, oldFile, newFile), procResult: res})
}

func (a *Agent) recordEdit(path string, res procResult) {
	st := statusOK
	if res.ReturnCode != 0 {
		st = statusError
	}
	a.update("edit:"+path, res.Output, st)
}

func (a *Agent) handleEditUploadInit(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r) {
		return
	}
	drain(r)
	if a.ensureUploadDirs() != nil {
		writeInternalError(w)
		return
	}
	id := newID()
	dir := virtualJoin(tmpBase, "edit_"+id)
	meta, _ := json.Marshal(map[string]any{"upload_id": id, "created_at": a.now().Unix()})
	if os.MkdirAll(a.sb.real(dir), 0o755) != nil || os.WriteFile(filepath.Join(a.sb.real(dir), "meta.json"), meta, 0o644) != nil {
		writeInternalError(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK       bool   `json:"ok"`
		UploadID string `json:"upload_id"`
		TempDir  string `json:"temp_dir"`
	}{true, id, dir})
}

// editUploadDir returns the virtual dir of an edit upload, or "" when the
// id is unknown or unsafe.
func (a *Agent) editUploadDir(id string) string {
	if !validID.MatchString(id) {
		return ""
	}
	dir := virtualJoin(tmpBase, "edit_"+id)
	_ = os.MkdirAll(a.sb.real(dir), 0o755) // the real agent creates it before checking
	if !fileExists(filepath.Join(a.sb.real(dir), "meta.json")) {
		return ""
	}
	return dir
}

func (a *Agent) handleEditUploadFile(w http.ResponseWriter, r *http.Request) {
	f := a.readForm(r, "file")
	defer f.file.remove()
	if errs := f.formErrors([]string{"upload_id", "role", "file"}, "file"); len(errs) > 0 {
		write422(w, errs)
		return
	}
	if !a.authorize(w, r) {
		return
	}
	role := f.fields["role"]
	if role != "new" && role != "old" {
		writeDetail(w, http.StatusBadRequest, "role must be 'new' or 'old'")
		return
	}
	if a.ensureUploadDirs() != nil {
		writeInternalError(w)
		return
	}
	id := f.fields["upload_id"]
	unlock := a.locks.lock("edit_" + id)
	defer unlock()
	dir := a.editUploadDir(id)
	if dir == "" {
		writeDetail(w, http.StatusNotFound, "upload_id not found")
		return
	}
	if f.file.tooLarge {
		writeDetail(w, http.StatusRequestEntityTooLarge, "File too large")
		return
	}
	stored := virtualJoin(dir, role+".bin")
	if os.Rename(f.file.path, a.sb.real(stored)) != nil {
		writeInternalError(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK       bool   `json:"ok"`
		UploadID string `json:"upload_id"`
		Role     string `json:"role"`
		Filename string `json:"filename"`
		StoredAs string `json:"stored_as"`
		Size     int64  `json:"size"`
		SHA256   string `json:"sha256"`
	}{true, id, role, f.fileName, stored, f.file.size, f.file.sha256})
}

// editCompleteRule is EditCompleteRequest's model validator (§4.9).
func editCompleteRule(uploadID string, p editParams) string {
	if uploadID == "" {
		return "upload_id es obligatorio"
	}
	if msg := commonEditRule(p); msg != "" {
		return msg
	}
	switch {
	case p.mode == "regex" && deref(p.pattern) == "":
		return "En mode=regex debes indicar pattern"
	case p.mode == "replace-block" && markersMissing(p):
		return "En mode=replace-block debes indicar start_marker y end_marker"
	}
	return ""
}

func (a *Agent) handleEditUploadComplete(w http.ResponseWriter, r *http.Request) {
	m, errs := parseModel(r, editCompleteFields())
	if errs != nil {
		write422(w, errs)
		return
	}
	id := m.str("upload_id")
	p := editParamsFrom(m)
	p.old, p.newText = nil, nil // not part of this model
	if msg := editCompleteRule(id, p); msg != "" {
		write422(w, modelError(m.body, msg))
		return
	}
	if !a.authorizeWithDirs(w, r) {
		return
	}
	unlock := a.locks.lock("edit_" + id)
	defer unlock()
	dir := a.editUploadDir(id)
	if dir == "" {
		writeDetail(w, http.StatusNotFound, "upload_id not found")
		return
	}
	newFile, oldFile := virtualJoin(dir, "new.bin"), virtualJoin(dir, "old.bin")
	newB, err := os.ReadFile(a.sb.real(newFile))
	if err != nil {
		writeDetail(w, http.StatusBadRequest, "Missing uploaded file for role=new")
		return
	}
	oldB, err := os.ReadFile(a.sb.real(oldFile))
	hasOld := err == nil
	if p.mode == "replace" && !hasOld {
		writeDetail(w, http.StatusBadRequest, "Missing uploaded file for role=old")
		return
	}
	defer os.RemoveAll(a.sb.real(dir))
	nt := string(newB)
	p.newText = &nt
	if hasOld {
		ot := string(oldB)
		p.old = &ot
	} else {
		oldFile = ""
	}
	sudo := m.boolean("sudo", false)
	res := a.runHelper(r.Context(), p)
	a.recordEdit(p.path, res)
	writeJSON(w, http.StatusOK, editResult{OK: res.ReturnCode == 0, Path: p.path, Mode: p.mode, Sudo: sudo,
		UploadID: &id, Command: a.helperArgv(p, sudo, oldFile, newFile), procResult: res})
}
