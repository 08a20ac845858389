package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/pensados/sentinelx-mcp/upstream"
)

// Limits of AGENTS_FILE. They bound what a typo or a generated file can
// cost the bridge (and every tool schema that lists the host names).
const (
	maxFileBytes = 1 << 20
	maxHosts     = 1000
	maxLabels    = 32
	minTimeout   = time.Second
	maxTimeout   = time.Hour
)

var (
	nameRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	labelRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)
)

// agentsFile is the file's shape; it is the contract with operators'
// files, so keys are only ever added.
type agentsFile struct {
	Hosts []fileHost `yaml:"hosts"`
}

type fileHost struct {
	Name      string            `yaml:"name"`
	URL       string            `yaml:"url"`
	TokenFile string            `yaml:"token_file"`
	TokenEnv  string            `yaml:"token_env"`
	Token     string            `yaml:"token"`
	Labels    map[string]string `yaml:"labels"`
	Timeout   string            `yaml:"timeout"`
}

// Load reads and validates an AGENTS_FILE (the server at startup and on
// reload, the doctor command). Errors name the file, the host (position
// from 1, and name) and the field. A relative token_file is taken from
// the file's directory. o.Path is not used; path is the file.
func Load(path string, o Options) (*Registry, error) {
	l := loader{o: o.withDefaults()}
	r, _, err := l.load(path)
	return r, err
}

// Parse validates an AGENTS_FILE's contents. An inline token: is
// accepted without the permission check, which needs the file, and a
// relative token_file is taken from the working directory.
func Parse(data []byte, o Options) (*Registry, error) {
	l := loader{o: o.withDefaults(), inlineOK: true}
	return l.parse(data)
}

// stamp is what polling compares to notice a changed file.
type stamp struct {
	mod  time.Time
	size int64
}

func stampOf(fi fs.FileInfo) stamp { return stamp{fi.ModTime(), fi.Size()} }

// loader is one load of the file: the options, what it may carry over
// from the registry in force, and the files it read, for polling.
type loader struct {
	o        Options
	prev     *Registry        // hosts whose identity is unchanged are carried over
	dir      string           // relative token_file paths are taken from here
	inlineOK bool             // inline tokens allowed (file not group/other accessible)
	mode     fs.FileMode      // the file's permissions, for the inline token error
	path     string           // the file, for the inline token error
	stamps   map[string]stamp // every file read, stamped before reading
}

// load reads path and parses it, returning the contents for the digest.
func (l *loader) load(path string) (*Registry, []byte, error) {
	l.path, l.dir = path, filepath.Dir(path)
	l.stamp(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err // *fs.PathError names the file
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	l.mode = fi.Mode().Perm()
	l.inlineOK = l.mode&0o077 == 0
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	r, err := l.parse(data)
	if err != nil {
		return nil, data, fmt.Errorf("%s: %w", path, err)
	}
	return r, data, nil
}

// stamp records file's state before it is read, so a change made while
// it is being read is seen by the next poll.
func (l *loader) stamp(file string) {
	if l.stamps == nil {
		l.stamps = map[string]stamp{}
	}
	var st stamp
	if fi, err := os.Stat(file); err == nil {
		st = stampOf(fi)
	}
	l.stamps[file] = st
}

func (l *loader) parse(data []byte) (*Registry, error) {
	if len(data) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d MiB", maxFileBytes>>20)
	}
	var f agentsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty file: want a hosts: list")
		}
		return nil, yamlError(err)
	}
	if dec.Decode(new(yaml.Node)) != io.EOF {
		return nil, errors.New("more than one YAML document: want one with a hosts: list")
	}
	switch {
	case len(f.Hosts) == 0:
		return nil, errors.New("no hosts: want at least one entry under hosts:")
	case len(f.Hosts) > maxHosts:
		return nil, fmt.Errorf("%d hosts: at most %d", len(f.Hosts), maxHosts)
	}
	seen := make(map[string]int, len(f.Hosts))
	hosts := make([]*Host, 0, len(f.Hosts))
	for i, fh := range f.Hosts {
		if j, dup := seen[fh.Name]; dup {
			return nil, hostError(i, fh.Name, "name", fmt.Errorf("duplicate of host %d", j+1))
		}
		h, err := l.host(fh)
		if err != nil {
			return nil, fmt.Errorf("host %d %q: %w", i+1, fh.Name, err)
		}
		seen[fh.Name] = i
		hosts = append(hosts, h)
	}
	return newRegistry(hosts, false), nil
}

// yamlError puts a decoding error on one line, in the file's terms
// rather than this package's type names.
func yamlError(err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msg = strings.Join(te.Errors, "; ")
	}
	msg = strings.NewReplacer("in type fleet.fileHost", "in a host", "in type fleet.agentsFile", "at the top level",
		"[]fleet.fileHost", "a list of hosts").Replace(strings.TrimPrefix(msg, "yaml: "))
	return errors.New("yaml: " + msg)
}

// hostError names the host and the field, the way every load error does.
func hostError(i int, name, field string, err error) error {
	return fmt.Errorf("host %d %q: %s: %w", i+1, name, field, err)
}

// host validates one entry and builds its *Host, carrying over the
// previous one (same client, health and slots) when its identity holds.
func (l *loader) host(fh fileHost) (*Host, error) {
	if !nameRE.MatchString(fh.Name) {
		if fh.Name == "" {
			return nil, errors.New("name: missing")
		}
		return nil, errors.New("name: want a lower-case DNS label: a-z, 0-9 and '-', at most 63, not starting or ending with '-'")
	}
	tok, err := l.token(fh)
	if err != nil {
		return nil, err
	}
	var timeout time.Duration
	if fh.Timeout != "" {
		if timeout, err = time.ParseDuration(fh.Timeout); err != nil {
			return nil, fmt.Errorf("timeout: %q is not a duration such as 120s or 5m", fh.Timeout)
		}
		if timeout < minTimeout || timeout > maxTimeout {
			return nil, fmt.Errorf("timeout: %s is outside %s..%s", timeout, minTimeout, maxTimeout)
		}
	}
	if err := checkLabels(fh.Labels); err != nil {
		return nil, err
	}
	id := identity{url: strings.TrimSpace(fh.URL), token: tok, timeout: timeout}
	if old := l.previous(fh.Name); old != nil && old.st.id == id {
		if maps.Equal(old.Labels, fh.Labels) {
			return old, nil
		}
		return &Host{Name: fh.Name, Labels: fh.Labels, Client: old.Client, Timeout: timeout, url: old.url, st: old.st}, nil
	}
	co := l.o.Client
	co.BaseURL, co.Token, co.Name = id.url, tok, fh.Name
	if timeout > 0 {
		co.Timeout = timeout
	}
	c, err := upstream.New(co)
	if err != nil {
		// upstream names the agent and the field already; keep its reason.
		return nil, errors.New(strings.TrimPrefix(err.Error(), fmt.Sprintf("upstream: agent %q: ", fh.Name)))
	}
	return &Host{Name: fh.Name, Labels: fh.Labels, Client: c, Timeout: timeout, url: c.BaseURL(),
		st: newState(fh.Name, id, c, l.o)}, nil
}

// previous is the host of that name in the registry in force, if any.
func (l *loader) previous(name string) *Host {
	if l.prev == nil {
		return nil
	}
	h, _ := l.prev.Lookup(name)
	return h
}

// token resolves the host's one token source. Its value never appears in
// an error.
func (l *loader) token(fh fileHost) (string, error) {
	var field, tok string
	switch n := countSet(fh.TokenFile, fh.TokenEnv, fh.Token); {
	case n == 0:
		return "", errors.New("token: missing; set one of token_file, token_env or token")
	case n > 1:
		return "", errors.New("token: set only one of token_file, token_env and token")
	case fh.TokenFile != "":
		field = "token_file"
		p := fh.TokenFile
		if !filepath.IsAbs(p) && l.dir != "" {
			p = filepath.Join(l.dir, p)
		}
		l.stamp(p)
		data, err := readTokenFile(p)
		if err != nil {
			return "", fmt.Errorf("token_file: %w", err)
		}
		if tok = strings.TrimSpace(string(data)); tok == "" {
			return "", fmt.Errorf("token_file: %s is empty", p)
		}
	case fh.TokenEnv != "":
		field = "token_env"
		if tok = strings.TrimSpace(l.o.Getenv(fh.TokenEnv)); tok == "" {
			return "", fmt.Errorf("token_env: %s is not set or empty", fh.TokenEnv)
		}
	default:
		field, tok = "token", strings.TrimSpace(fh.Token)
		if !l.inlineOK {
			return "", fmt.Errorf("token: an inline token needs a file only its owner can read, but %s has mode %04o; run chmod 600 %s, or use token_file or token_env",
				l.path, l.mode, l.path)
		}
	}
	if strings.ContainsFunc(tok, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("%s: the token contains spaces or control characters", field)
	}
	return tok, nil
}

func countSet(vs ...string) int {
	n := 0
	for _, v := range vs {
		if v != "" {
			n++
		}
	}
	return n
}

// checkLabels bounds labels: they become selector terms, policy
// variables and metric-free display strings, never free text.
func checkLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return fmt.Errorf("labels: %d labels, at most %d", len(labels), maxLabels)
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !labelRE.MatchString(k) {
			return fmt.Errorf("labels: key %q: %s", k, labelRule)
		}
		if !labelRE.MatchString(labels[k]) {
			return fmt.Errorf("labels: %s: value %q: %s", k, labels[k], labelRule)
		}
	}
	return nil
}

// labelRule is what keys and values of labels (and selectors) allow.
const labelRule = "want 1 to 63 of A-Z, a-z, 0-9, '.', '_', '-'"

// maxTokenFile bounds a token file: a token is a line, and a file named by
// mistake (a log) must not be read whole on every change.
const maxTokenFile = 64 << 10

// readTokenFile reads a regular file of at most maxTokenFile bytes; a
// FIFO or device would block a reload that holds the reload lock.
func readTokenFile(p string) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
	// writer; it is refused below like any other non-regular file.
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	if fi.Size() > maxTokenFile {
		return nil, fmt.Errorf("%s is %d bytes; a token file holds one token (at most %d bytes)", p, fi.Size(), maxTokenFile)
	}
	return io.ReadAll(io.LimitReader(f, maxTokenFile))
}
