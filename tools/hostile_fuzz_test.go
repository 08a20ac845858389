package tools

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Fuzz targets for tool-argument decoding: what a caller with a token can
// make the bridge itself read or fetch. Seeds run in every `go test`; fuzz
// with e.g. `go test ./tools -run '^$' -fuzz FuzzReadLocal -fuzztime 30s`.

// FuzzDecodeBase64: never more than max bytes out; anything a standard or
// URL-safe encoder produces (with or without padding, wrapped) decodes back
// to the same bytes.
func FuzzDecodeBase64(f *testing.F) {
	for _, s := range []string{"aGVsbG8=", "aGVsbG8", "aGVs\nbG8=", "-_-_", "+/+/", "====", "=", "a", "ab", "abc=",
		"aGVsbG8=aGVsbG8=", "\x00", "aGVsbG8\r\n=", strings.Repeat("QUFB", 100), "aGVsbG8=\u00a0", "YQ==\n\n"} {
		f.Add(s, int64(64))
	}
	f.Add(strings.Repeat("A", 400), int64(100))
	f.Add("", int64(0))
	f.Fuzz(func(t *testing.T, s string, max int64) {
		if max < 0 || max > 1<<20 {
			max = 1 << 20
		}
		b, err := decodeBase64(s, max)
		// The cap is checked on the encoded length, so it is approximate:
		// see TestDecodeBase64CapExact. Beyond a few bytes it is a bug.
		if err == nil && int64(len(b)) > max+5 {
			t.Fatalf("decodeBase64(%q, %d) returned %d bytes", s, max, len(b))
		}
		raw := []byte(s)
		if int64(len(raw)) > max {
			return
		}
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			e := enc.EncodeToString(raw)
			if len(e) > 8 {
				e = e[:4] + "\n" + e[4:] // a model's line break
			}
			got, err := decodeBase64(e, max)
			if err != nil || !bytes.Equal(got, raw) {
				t.Fatalf("round trip of %q via %q: %q, %v", raw, e, got, err)
			}
		}
	})
}

// TestDecodeBase64CapExact: the size cap is checked before decoding with
// StdEncoding.DecodedLen plus 3 bytes of slack, which undercounts unpadded
// input; FuzzDecodeBase64 found decodeBase64("0000000", 4) returning 5
// bytes. Harmless at the real cap (64 MiB + a few bytes) but not exact.
func TestDecodeBase64CapExact(t *testing.T) {
	var over []string
	for _, tt := range []struct {
		in  string
		max int64
	}{{"0000000", 4}, {"AAAAAAA", 4}, {"AAAA", 2}, {"AAAAAA==", 3}} {
		if b, err := decodeBase64(tt.in, tt.max); err == nil && int64(len(b)) > tt.max {
			over = append(over, fmt.Sprintf("%q/max %d → %d bytes", tt.in, tt.max, len(b)))
		}
	}
	if len(over) > 0 {
		t.Fatalf("decodeBase64 returns more than max: %v", over)
	}
}

// TestDecodeBase64LaxPadding: input that lax base64 accepts but every
// strict decoder refuses (non-zero padding bits, e.g. "001=") reaches
// `err.Error()` with err == nil (tools/fetch.go:52) and panics; through
// MCP the panic is not recovered and the process exits. Found by
// FuzzDecodeBase64 (crasher kept out of testdata so `go test` passes).
func TestDecodeBase64LaxPadding(t *testing.T) {
	var panics []string
	for _, in := range []string{"001=", "AB==", "AAB=", "QR==", "YR=="} {
		func() {
			defer func() {
				if p := recover(); p != nil {
					panics = append(panics, in)
				}
			}()
			if _, err := decodeBase64(in, 64); err == nil {
				t.Errorf("decodeBase64(%q) accepted input with non-zero padding bits", in)
			}
		}()
	}
	if len(panics) > 0 {
		t.Fatalf("decodeBase64 panics for %q", panics)
	}
}

// readLocalFixture is a directory with an allowed file, and a secret next
// to it (outside) reachable by every trick: "..", an absolute path, a
// symlink, a symlinked directory.
type readLocalFixture struct {
	dir, outside string
}

var (
	fixtureOnce sync.Once
	fixture     readLocalFixture
	fixtureErr  error
)

const (
	insideContent = "inside-content"
	secretContent = "SECRET-outside-content"
)

func localFixture(tb testing.TB) readLocalFixture {
	fixtureOnce.Do(func() {
		base, err := os.MkdirTemp("", "sentinelx-readlocal-*")
		if err != nil {
			fixtureErr = err
			return
		}
		dir, outside := filepath.Join(base, "in"), filepath.Join(base, "out")
		for _, d := range []string{dir, outside, filepath.Join(dir, "sub")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				fixtureErr = err
				return
			}
		}
		files := map[string]string{
			filepath.Join(dir, "a.txt"):        insideContent,
			filepath.Join(dir, "sub", "b.txt"): insideContent,
			filepath.Join(outside, "secret"):   secretContent,
		}
		for p, c := range files {
			if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
				fixtureErr = err
				return
			}
		}
		links := map[string]string{
			filepath.Join(dir, "escape"):       filepath.Join(outside, "secret"),
			filepath.Join(dir, "rel-escape"):   "../out/secret",
			filepath.Join(dir, "dir-escape"):   outside,
			filepath.Join(dir, "in-link"):      "a.txt",
			filepath.Join(dir, "sub", "up"):    "../a.txt",
			filepath.Join(dir, "loop"):         "loop",
			filepath.Join(dir, "abs-inside"):   filepath.Join(dir, "a.txt"),
			filepath.Join(dir, "proc-environ"): "/proc/self/environ",
		}
		for p, target := range links {
			if err := os.Symlink(target, p); err != nil {
				fixtureErr = err
				return
			}
		}
		fixture = readLocalFixture{dir: dir, outside: outside}
	})
	if fixtureErr != nil {
		tb.Fatalf("fixture: %v", fixtureErr)
	}
	return fixture
}

// readLocalSeeds are the path tricks tried against input_file.
var readLocalSeeds = [...]string{
	"a.txt", "./a.txt", "sub/b.txt", "sub/../a.txt", "sub/up", "in-link", "abs-inside",
	"../out/secret", "../../out/secret", "sub/../../out/secret", "escape", "rel-escape", "dir-escape/secret",
	"proc-environ", "/proc/self/environ", "file:///proc/self/environ", "file://localhost/etc/passwd",
	"/etc/passwd", "file:///etc/passwd", "loop", "sub", ".", "..", "/", "", " ", "a.txt\x00../../out/secret",
	"%2e%2e/out/secret", "..%2fout%2fsecret", "..\\out\\secret", "a.txt/", "a.txt/.", "//etc/passwd",
	"\\\\host\\share", "http://127.0.0.1/x", "FILE:///etc/passwd", "file:/etc/passwd", "~/.ssh/id_rsa",
	"$HOME/x", "sub//b.txt", strings.Repeat("../", 200) + "etc/passwd", strings.Repeat("a/", 3000) + "x",
}

// FuzzReadLocal: whatever input_file says, readLocal returns the content
// of a file inside the directory or an error — never the secret outside,
// never a file through a symlink that leaves the directory, and it does
// not panic. Absolute paths are tried both raw and rooted at the
// directory.
func FuzzReadLocal(f *testing.F) {
	for _, s := range readLocalSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		fx := localFixture(t)
		for _, in := range []string{p, filepath.Join(fx.dir, p), filepath.Join(fx.outside, p)} {
			if strings.Contains(in, "fifo") {
				continue // see TestReadLocalFIFO
			}
			b, name, err := readLocal(fx.dir, in, 1<<10)
			if err != nil {
				var ie inputError
				if !errors.As(err, &ie) {
					t.Fatalf("readLocal(%q): %T %v is not an input error", in, err, err)
				}
				continue
			}
			if string(b) != insideContent {
				t.Fatalf("readLocal(%q) = %q (name %q): not a file inside the directory", in, b, name)
			}
		}
	})
}

// FuzzFetcherAllowed: an allowed URL is https, carries no credentials,
// starts with an allowed prefix, and is on that prefix's host and port —
// a prefix can never be stretched to another host.
func FuzzFetcherAllowed(f *testing.F) {
	prefixes := []string{"https://files.example.com/pub/", "https://files.example.com", "https://cdn.example.org/a"}
	for _, s := range []string{
		"https://files.example.com/pub/a.bin", "https://files.example.com", "https://files.example.com/",
		"https://files.example.com.evil.example/x", "https://files.example.com@evil.example/x",
		"https://evil.example#@files.example.com/pub/", "https://evil.example?https://files.example.com/pub/",
		"https://files.example.com:8443/pub/", "https://files.example.com:443/pub/", "http://files.example.com/pub/a",
		"HTTPS://files.example.com/pub/a", "https://FILES.example.com/pub/a", "https://files.example.com\\@evil.example/",
		"https://files.example.com%2f@evil.example/", "https://user:pw@files.example.com/pub/a",
		"https://files.example.com/pub/../private/a", "https://files.example.com/pub/%2e%2e/private/a",
		"https://cdn.example.org/a/../../x", "https://cdn.example.org/ab", "https://cdn.example.org/a?x", "https://cdn.example.org/a#x",
		"https://[::1]/pub/", "https://127.0.0.1/", "https://2130706433/", "https://0x7f.1/", "//files.example.com/pub/",
		"https://files.example.com/pub/\x00", "https://files.example.com/pub/a\r\nHost: evil", "https:files.example.com/pub/",
	} {
		f.Add(s)
	}
	fe := &Fetcher{allow: prefixes}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil || !fe.allowed(u) {
			return
		}
		if u.Scheme != "https" || u.User != nil {
			t.Fatalf("allowed %q: scheme %q user %v", raw, u.Scheme, u.User)
		}
		s := u.String()
		var ok bool
		for _, p := range prefixes {
			pu, _ := url.Parse(p)
			if strings.HasPrefix(s, p) && u.Host == pu.Host {
				ok = true
				// A prefix with a path must confine the request path too,
				// once dot segments are resolved the way servers do.
				if pu.Path != "" && pu.Path != "/" {
					clean := path.Clean("/" + u.Path)
					dir := strings.TrimSuffix(pu.Path, "/")
					if clean != dir && !strings.HasPrefix(clean, dir+"/") && !strings.HasPrefix(clean, pu.Path) {
						t.Fatalf("dot segments: %q is allowed by prefix %q but its path resolves to %q", raw, p, clean)
					}
				}
			}
		}
		if !ok {
			t.Fatalf("allowed %q (host %q), which is under no prefix's host", raw, u.Host)
		}
	})
}
