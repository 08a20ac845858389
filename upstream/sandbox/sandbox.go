package sandbox

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// sandbox maps the agent's virtual filesystem onto one real directory:
// virtual "/etc/x" is <root>/etc/x. Every path a client sends goes through
// resolve, which follows symlinks and refuses anything that lands outside
// root, so neither ".." nor a planted symlink can reach the host.
type sandbox struct {
	root string // absolute, symlinks resolved
}

// errEscape is returned for paths that resolve outside the sandbox.
var errEscape = errors.New("path escapes the sandbox")

func newSandbox(dir string) (*sandbox, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sandbox: creating sandbox %s: %w", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: sandbox %s: %w", dir, err)
	}
	root, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("sandbox: sandbox %s: %w", dir, err)
	}
	return &sandbox{root: root}, nil
}

// abs turns a client path into a clean virtual absolute path; relative
// paths are taken from the agent's working directory, as the real agent's
// cwd would.
func (s *sandbox) abs(p string) string {
	if !path.IsAbs(p) {
		p = path.Join(workDir, p)
	}
	return path.Clean(p)
}

// real is the lexical mapping of a clean virtual absolute path. Use
// resolve for anything a client controls.
func (s *sandbox) real(v string) string {
	return filepath.Join(s.root, filepath.FromSlash(path.Clean("/"+v)))
}

// resolve maps a virtual path to a real one with symlinks followed on the
// part that exists, and refuses escapes.
func (s *sandbox) resolve(v string) (string, error) {
	p := s.real(s.abs(v))
	rest := ""
	for {
		if _, err := os.Lstat(p); err == nil {
			break
		}
		parent := filepath.Dir(p)
		if parent == p {
			break
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
	resolved, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", err
	}
	out := filepath.Join(resolved, rest)
	if !s.contains(out) {
		return "", errEscape
	}
	return out, nil
}

func (s *sandbox) contains(real string) bool {
	return real == s.root || strings.HasPrefix(real, s.root+string(filepath.Separator))
}

// virtual is the inverse of real for paths inside the sandbox.
func (s *sandbox) virtual(real string) string {
	if real == s.root {
		return "/"
	}
	if rel, ok := strings.CutPrefix(real, s.root+string(filepath.Separator)); ok {
		return "/" + filepath.ToSlash(rel)
	}
	return real
}

// hide rewrites real sandbox paths in process output back to virtual ones,
// so output reads as on the real agent and never reveals the host layout.
func (s *sandbox) hide(text string) string {
	text = strings.ReplaceAll(text, s.root+string(filepath.Separator), "/")
	return strings.ReplaceAll(text, s.root, "/")
}
