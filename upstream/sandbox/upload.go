package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Uploads (UPSTREAM.md §4.11–4.14): real files under the sandbox's upload
// base, real sha256 and size checks, the agent's messages and order.

// uploadTarget resolves a client target_path inside the upload base, or
// returns the 400 detail. Beyond the real agent, the temp area is refused
// too, so pending uploads' metadata cannot be rewritten (§7.4).
func (a *Agent) uploadTarget(target string) (virtual, real string, detail string) {
	t := strings.TrimSpace(target)
	if t == "" {
		return "", "", "Missing target_path"
	}
	v := path.Clean(path.Join(uploadBase, strings.TrimLeft(t, "/")))
	const escapes = "target_path escapes upload base dir"
	if v != uploadBase && !strings.HasPrefix(v, uploadBase+"/") {
		return "", "", escapes
	}
	if v == tmpBase || strings.HasPrefix(v, tmpBase+"/") {
		return "", "", escapes
	}
	r, err := a.sb.resolve(v)
	base, _ := a.sb.resolve(uploadBase)
	if err != nil || (r != base && !strings.HasPrefix(r, base+string(filepath.Separator))) {
		return "", "", escapes
	}
	return a.sb.virtual(r), r, ""
}

func (a *Agent) ensureUploadDirs() error {
	return os.MkdirAll(a.sb.real(tmpBase), 0o755)
}

// authorizeWithDirs is the agent's order for file endpoints: the token
// check, then the upload directories (a failure there is its plain 500).
func (a *Agent) authorizeWithDirs(w http.ResponseWriter, r *http.Request) bool {
	if !a.authorize(w, r) {
		return false
	}
	if a.ensureUploadDirs() != nil {
		writeInternalError(w)
		return false
	}
	return true
}

func (a *Agent) handleUpload(w http.ResponseWriter, r *http.Request) {
	f := a.readForm(r, "file")
	defer f.file.remove()
	errs := f.formErrors([]string{"file", "target_path"}, "file")
	ov, present := f.fields["overwrite"]
	overwrite, verr := formBool("overwrite", ov, present)
	if verr != nil {
		errs = append(errs, *verr)
	}
	if len(errs) > 0 {
		write422(w, errs)
		return
	}
	if !a.authorizeWithDirs(w, r) {
		return
	}
	virt, real, detail := a.uploadTarget(f.fields["target_path"])
	if detail != "" {
		writeDetail(w, http.StatusBadRequest, detail)
		return
	}
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		writeInternalError(w)
		return
	}
	if fileExists(real) && !overwrite {
		writeDetail(w, http.StatusConflict, "File already exists")
		return
	}
	if f.file.tooLarge {
		writeDetail(w, http.StatusRequestEntityTooLarge, "File too large")
		return
	}
	if err := os.Rename(f.file.path, real); err != nil {
		writeInternalError(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK         bool   `json:"ok"`
		Mode       string `json:"mode"`
		TargetPath string `json:"target_path"`
		Size       int64  `json:"size"`
		SHA256     string `json:"sha256"`
		Filename   string `json:"filename"`
	}{true, "single", virt, f.file.size, f.file.sha256, f.fileName})
}

// uploadMeta is TMP/<id>/meta.json.
type uploadMeta struct {
	UploadID   string          `json:"upload_id"`
	TargetPath string          `json:"target_path"`
	Overwrite  bool            `json:"overwrite"`
	TotalSize  int64           `json:"total_size"`
	Filename   json.RawMessage `json:"filename"`
}

func (a *Agent) handleUploadInit(w http.ResponseWriter, r *http.Request) {
	if !a.authorizeWithDirs(w, r) {
		return
	}
	obj, ok := readObject(r)
	if !ok {
		writeInternalError(w)
		return
	}
	var target string
	if raw, ok := obj["target_path"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &target) != nil {
			writeInternalError(w) // .strip() on a non-string
			return
		}
	}
	total, ok := pyIntOrZero(obj["total_size"])
	if !ok {
		writeInternalError(w)
		return
	}
	overwrite := obj["overwrite"] != nil && truthy(obj["overwrite"])
	virt, real, detail := a.uploadTarget(target)
	if detail != "" {
		writeDetail(w, http.StatusBadRequest, detail)
		return
	}
	if fileExists(real) && !overwrite {
		writeDetail(w, http.StatusConflict, "File already exists")
		return
	}
	id := newID()
	dir := a.sb.real(virtualJoin(tmpBase, id))
	if err := os.MkdirAll(filepath.Join(dir, "parts"), 0o755); err != nil {
		writeInternalError(w)
		return
	}
	fn := obj["filename"]
	if fn == nil {
		fn = rawNull
	}
	meta, _ := json.Marshal(uploadMeta{UploadID: id, TargetPath: virt, Overwrite: overwrite, TotalSize: total, Filename: fn})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		writeInternalError(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK         bool   `json:"ok"`
		Mode       string `json:"mode"`
		UploadID   string `json:"upload_id"`
		TargetPath string `json:"target_path"`
		TotalSize  int64  `json:"total_size"`
	}{true, "chunked", id, virt, total})
}

// pyIntOrZero is int(x or 0): null/absent/false give 0, numeric strings
// and numbers convert, anything else is the agent's 500.
func pyIntOrZero(raw json.RawMessage) (int64, bool) {
	if raw == nil || !truthy(raw) {
		return 0, true
	}
	switch string(raw) {
	case "true":
		return 1, true
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		return n, err == nil
	}
	var f float64
	if json.Unmarshal(raw, &f) == nil {
		return int64(f), true
	}
	return 0, false
}

// uploadDir returns the real temp dir of a chunked upload and its meta,
// or ok=false for unknown (or unsafe) ids.
func (a *Agent) uploadDir(id string) (string, *uploadMeta, bool) {
	if !validID.MatchString(id) {
		return "", nil, false
	}
	dir := a.sb.real(virtualJoin(tmpBase, id))
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return "", nil, false
	}
	var m uploadMeta
	if json.Unmarshal(b, &m) != nil {
		return "", nil, false
	}
	return dir, &m, true
}

func (a *Agent) handleUploadChunk(w http.ResponseWriter, r *http.Request) {
	f := a.readForm(r, "chunk")
	defer f.file.remove()
	var errs []vError
	if f.fields["upload_id"] == "" {
		errs = append(errs, missing("upload_id"))
	}
	var index int
	if v := f.fields["index"]; v == "" {
		errs = append(errs, missing("index"))
	} else if n, verr := formInt("index", v); verr != nil {
		errs = append(errs, *verr)
	} else {
		index = n
	}
	if f.file == nil {
		errs = append(errs, missing("chunk"))
	}
	if len(errs) > 0 {
		write422(w, errs)
		return
	}
	if !a.authorizeWithDirs(w, r) {
		return
	}
	id := f.fields["upload_id"]
	unlock := a.locks.lock(id)
	defer unlock()
	dir, _, ok := a.uploadDir(id)
	if !ok {
		writeDetail(w, http.StatusNotFound, "upload_id not found")
		return
	}
	if f.file.tooLarge {
		writeDetail(w, http.StatusRequestEntityTooLarge, "File too large")
		return
	}
	part := filepath.Join(dir, "parts", fmt.Sprintf("%08d.part", index))
	if err := os.MkdirAll(filepath.Dir(part), 0o755); err != nil || os.Rename(f.file.path, part) != nil {
		writeInternalError(w)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK        bool   `json:"ok"`
		UploadID  string `json:"upload_id"`
		Index     int    `json:"index"`
		ChunkSize int64  `json:"chunk_size"`
	}{true, id, index, f.file.size})
}

func (a *Agent) handleUploadComplete(w http.ResponseWriter, r *http.Request) {
	if !a.authorizeWithDirs(w, r) {
		return
	}
	obj, ok := readObject(r)
	if !ok {
		writeInternalError(w)
		return
	}
	if !truthy(obj["upload_id"]) {
		writeDetail(w, http.StatusBadRequest, "Missing upload_id")
		return
	}
	id := pyStr(obj["upload_id"])
	unlock := a.locks.lock(id)
	defer unlock()
	dir, meta, ok := a.uploadDir(id)
	if !ok {
		writeDetail(w, http.StatusNotFound, "upload_id not found")
		return
	}
	virt, dest, detail := a.uploadTarget(strings.TrimPrefix(meta.TargetPath, uploadBase))
	if detail != "" {
		writeDetail(w, http.StatusBadRequest, detail)
		return
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		writeInternalError(w)
		return
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "parts", "*.part"))
	if len(parts) == 0 {
		writeDetail(w, http.StatusBadRequest, "No chunks uploaded")
		return
	}
	sort.Strings(parts)
	assembled := filepath.Join(dir, "assembled.bin")
	size, sum, tooLarge, err := a.assemble(assembled, parts)
	if err != nil {
		writeInternalError(w)
		return
	}
	if tooLarge {
		writeDetail(w, http.StatusRequestEntityTooLarge, "File too large")
		return
	}
	if meta.TotalSize != 0 && meta.TotalSize != size {
		writeDetail(w, http.StatusBadRequest, fmt.Sprintf("Size mismatch: expected %d, got %d", meta.TotalSize, size))
		return
	}
	var want string
	if raw, ok := obj["sha256"]; ok && truthy(raw) {
		want = pyStr(raw)
	}
	if want != "" && want != sum {
		writeDetail(w, http.StatusBadRequest, "sha256 mismatch")
		return
	}
	if fileExists(dest) && !meta.Overwrite {
		writeDetail(w, http.StatusConflict, "File already exists")
		return
	}
	if err := os.Rename(assembled, dest); err != nil {
		writeInternalError(w)
		return
	}
	_ = os.RemoveAll(dir)
	writeJSON(w, http.StatusOK, struct {
		OK         bool   `json:"ok"`
		Mode       string `json:"mode"`
		UploadID   string `json:"upload_id"`
		TargetPath string `json:"target_path"`
		Size       int64  `json:"size"`
		SHA256     string `json:"sha256"`
	}{true, "chunked", id, virt, size, sum})
}

// assemble concatenates parts into dst, stopping at the upload cap.
func (a *Agent) assemble(dst string, parts []string) (int64, string, bool, error) {
	out, err := os.Create(dst)
	if err != nil {
		return 0, "", false, err
	}
	defer out.Close()
	h := sha256.New()
	var total int64
	for _, p := range parts {
		in, err := os.Open(p)
		if err != nil {
			return 0, "", false, err
		}
		n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(in, a.maxUpload-total+1))
		_ = in.Close()
		if err != nil {
			return 0, "", false, err
		}
		total += n
		if total > a.maxUpload {
			_ = out.Close()
			_ = os.Remove(dst)
			return total, "", true, nil
		}
	}
	return total, hex.EncodeToString(h.Sum(nil)), false, out.Close()
}
