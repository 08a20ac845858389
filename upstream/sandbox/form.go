package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"
)

// form is a parsed multipart body. Like FastAPI, the whole body is read
// (the file spooled to disk) before any check runs, so 422s come before
// authentication.
type form struct {
	fields   map[string]string
	file     *spooled
	fileName string
}

// spooled is an uploaded file part written to the agent's temp area.
type spooled struct {
	path     string // real path; empty when the part was too large
	size     int64
	sha256   string
	tooLarge bool
}

func (s *spooled) remove() {
	if s != nil && s.path != "" {
		_ = os.Remove(s.path)
	}
}

const maxFormField = 1 << 20

// readForm streams r's multipart body. A body that is not multipart reads
// as an empty form (FastAPI then reports every field missing).
func (a *Agent) readForm(r *http.Request, fileField string) *form {
	f := &form{fields: map[string]string{}}
	mr, err := r.MultipartReader()
	if err != nil {
		drain(r)
		return f
	}
	for {
		p, err := mr.NextPart()
		if err != nil {
			return f
		}
		name := p.FormName()
		if name == fileField && p.FileName() != "" && f.file == nil {
			f.fileName = p.FileName()
			f.file = a.spool(p)
		} else if _, seen := f.fields[name]; !seen && p.FileName() == "" {
			b, _ := io.ReadAll(io.LimitReader(p, maxFormField))
			f.fields[name] = string(b)
		}
		_, _ = io.Copy(io.Discard, p)
		_ = p.Close()
	}
}

// spool copies a part into TMP/<random>.upload, hashing as it goes, and
// stops keeping bytes past the upload cap.
func (a *Agent) spool(src io.Reader) *spooled {
	out, err := os.CreateTemp(a.sb.real(tmpBase), "*.upload")
	if err != nil {
		return &spooled{tooLarge: true}
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, h), io.LimitReader(src, a.maxUpload+1))
	_ = out.Close()
	s := &spooled{path: out.Name(), size: n, sha256: hex.EncodeToString(h.Sum(nil))}
	if err != nil || n > a.maxUpload {
		s.remove()
		s.path, s.tooLarge = "", true
	}
	return s
}

// formErrors reports required text fields that are absent or "" and a
// missing file part, in declaration order (FastAPI's 422 list).
func (f *form) formErrors(order []string, fileField string) []vError {
	var errs []vError
	for _, name := range order {
		if name == fileField {
			if f.file == nil {
				errs = append(errs, missing(name))
			}
			continue
		}
		if f.fields[name] == "" {
			errs = append(errs, missing(name))
		}
	}
	return errs
}

// formInt is a lax integer form field.
func formInt(name, v string) (int, *vError) {
	n, err := strconv.Atoi(v)
	if err != nil {
		in, _ := encodeJSON(v)
		return 0, &vError{Type: "int_parsing", Loc: []any{"body", name},
			Msg: "Input should be a valid integer, unable to parse string as an integer", Input: in}
	}
	return n, nil
}

// formBool is a lax boolean form field; absent means false.
func formBool(name string, v string, present bool) (bool, *vError) {
	if !present {
		return false, nil
	}
	in, _ := encodeJSON(v)
	b, ok := laxBool(in)
	if !ok {
		return false, &vError{Type: "bool_parsing", Loc: []any{"body", name},
			Msg: "Input should be a valid boolean, unable to interpret input", Input: in}
	}
	return b, nil
}

// newID is a uuid4().hex-like id: 32 lowercase hex characters.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return hex.EncodeToString(b[:])
}

// validID guards the temp area: the real agent joins upload ids into paths
// unchecked (UPSTREAM.md §7.4); the sandbox accepts only plain names and
// treats anything else as unknown.
var validID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// idLocks serializes work on one upload id (chunk writes vs complete).
type idLocks struct{ m sync.Map }

func (l *idLocks) lock(id string) func() {
	v, _ := l.m.LoadOrStore(id, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}
