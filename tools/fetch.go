package tools

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Limits on what the bridge itself reads for the upload and edit-upload
// tools. Inline base64 is bounded by the MCP body limit anyway; downloads
// are buffered in memory before they go to the agent, so they are capped
// well below it — larger files go through the chunked upload tools.
const (
	defaultMaxInline   = 64 << 20
	maxDownloadBytes   = 64 << 20
	downloadTimeout    = 2 * time.Minute
	maxDownloadRedirs  = 3
	maxLocalInputBytes = 64 << 20
)

// decodeBase64 decodes standard or URL-safe base64, with or without
// padding, ignoring line breaks and spaces models like to insert.
func decodeBase64(s string, max int64) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		}
		return r
	}, s)
	tooBig := inputError(fmt.Sprintf("decoded content would exceed %d bytes; use the chunked upload tools", max))
	if int64(base64.RawStdEncoding.DecodedLen(len(clean))) > max+3 {
		return nil, tooBig
	}
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.Strict().DecodeString(clean)
		if err == nil {
			if int64(len(b)) > max {
				return nil, tooBig
			}
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	// Strict decoding also refuses non-zero padding bits ("001="), which a
	// lax decoder would accept while silently dropping them.
	return nil, inputError("invalid base64: " + firstErr.Error())
}

// readLocal reads input_file for sentinel_edit_upload_file. Only files
// inside dir are readable: the path is opened through os.Root, which
// refuses "..", absolute escapes and symlinks that leave dir, at open time
// (no check-then-use race). The old bridge read any file the process could
// — /proc/self/environ included, with the agent token in it.
func readLocal(dir, p string, max int64) ([]byte, string, error) {
	if dir == "" {
		return nil, "", inputError("input_file is disabled on this server (EDIT_UPLOAD_LOCAL_DIR is not set); send content_base64 instead")
	}
	p = strings.TrimPrefix(strings.TrimSpace(p), "file://")
	if strings.Contains(p, "://") {
		return nil, "", inputError("input_file must be a path inside EDIT_UPLOAD_LOCAL_DIR, not a URL")
	}
	rel := p
	if filepath.IsAbs(p) {
		absDir, err := filepath.Abs(dir)
		if err != nil {
			return nil, "", fmt.Errorf("EDIT_UPLOAD_LOCAL_DIR: %w", err)
		}
		r, err := filepath.Rel(absDir, filepath.Clean(p))
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
			return nil, "", inputError("input_file is outside EDIT_UPLOAD_LOCAL_DIR")
		}
		rel = r
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", fmt.Errorf("EDIT_UPLOAD_LOCAL_DIR: %w", err)
	}
	defer root.Close()
	// O_NONBLOCK: a FIFO planted in the directory would otherwise block the
	// open until a writer appears; it is then refused as not regular.
	f, err := root.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if strings.Contains(err.Error(), "escapes") { // os.Root's escape error has no exported sentinel
			return nil, "", inputError("input_file is outside EDIT_UPLOAD_LOCAL_DIR")
		}
		return nil, "", inputError("unable to read input_file: " + err.Error())
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil, "", inputError("input_file is not a regular file")
	}
	if st.Size() > max {
		return nil, "", inputError(fmt.Sprintf("input_file is %d bytes; the limit is %d", st.Size(), max))
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, "", inputError("unable to read input_file: " + err.Error())
	}
	if int64(len(b)) > max {
		return nil, "", inputError(fmt.Sprintf("input_file exceeds %d bytes", max))
	}
	return b, filepath.Base(rel), nil
}

// Fetcher downloads file_url for sentinel_upload_file, safely: off unless
// the operator lists URL prefixes; https only; every redirect must stay on
// the same host and inside an allowed prefix; the dialer refuses addresses
// that are not public unicast (checked on the resolved IP at connect time,
// so DNS rebinding cannot slip past); size and time are capped.
type Fetcher struct {
	allow  []string
	client *http.Client
	max    int64
}

// NewFetcher returns a Fetcher for the allowed prefixes. With none, every
// Fetch fails with a message saying how to enable it.
func NewFetcher(allow []string) *Fetcher {
	return newFetcher(allow, blockedAddr)
}

func newFetcher(allow []string, blocked func(netip.Addr) bool) *Fetcher {
	f := &Fetcher{allow: allow, max: maxDownloadBytes}
	dialer := &net.Dialer{
		Timeout: 10 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("file_url: cannot parse dialed address %q", address)
			}
			if blocked(ap.Addr()) {
				return fmt.Errorf("file_url resolves to %s, a non-public address; refused", ap.Addr())
			}
			return nil
		},
	}
	f.client = &http.Client{
		Timeout: downloadTimeout,
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would dial for us and bypass the address check
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   10 * time.Second,
			ResponseHeaderTimeout: 30 * time.Second,
			MaxIdleConns:          4,
			IdleConnTimeout:       30 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxDownloadRedirs {
				return fmt.Errorf("file_url: more than %d redirects", maxDownloadRedirs)
			}
			if req.URL.Host != via[0].URL.Host {
				return fmt.Errorf("file_url: redirect to another host (%s) refused", req.URL.Host)
			}
			if !f.allowed(req.URL) {
				return fmt.Errorf("file_url: redirect to %s is outside UPLOAD_URL_ALLOW", req.URL.Redacted())
			}
			return nil
		},
	}
	return f
}

func (f *Fetcher) allowed(u *url.URL) bool {
	if u.Scheme != "https" || u.User != nil || hasDotSegments(u) {
		return false
	}
	s := u.String()
	for _, p := range f.allow {
		if !strings.HasPrefix(s, p) {
			continue
		}
		// "https://files.example.com" must not admit "https://files.example.com.evil/".
		if len(s) == len(p) || strings.HasSuffix(p, "/") || strings.ContainsRune("/?#", rune(s[len(p)])) {
			return true
		}
	}
	return false
}

// hasDotSegments reports "." or ".." path segments, raw or percent-encoded,
// and encoded slashes: servers resolve them, so "/pub/../private" would
// match an allowed "/pub/" prefix yet fetch "/private".
func hasDotSegments(u *url.URL) bool {
	raw := strings.ToLower(u.EscapedPath())
	if strings.Contains(raw, "%2e") || strings.Contains(raw, "%2f") || strings.Contains(raw, "%5c") || strings.Contains(raw, "\\") {
		return true
	}
	for _, seg := range strings.Split(u.Path, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// Fetch downloads raw and returns its bytes and a file name taken from
// the final URL's path.
func (f *Fetcher) Fetch(ctx context.Context, raw string) ([]byte, string, error) {
	if len(f.allow) == 0 {
		return nil, "", inputError("file_url downloads are disabled on this server (UPLOAD_URL_ALLOW is empty); send content_base64 instead")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, "", inputError("file_url is not an absolute URL")
	}
	if u.Scheme != "https" {
		return nil, "", inputError("file_url must be https")
	}
	if !f.allowed(u) {
		return nil, "", inputError("file_url is not under an allowed prefix (UPLOAD_URL_ALLOW)")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", inputError("file_url: " + err.Error())
	}
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, "", fmt.Errorf("file_url download failed: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", fmt.Errorf("file_url download failed: HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > f.max {
		return nil, "", fmt.Errorf("file_url is %d bytes; the limit is %d (use the chunked upload tools)", resp.ContentLength, f.max)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, f.max+1))
	if err != nil {
		return nil, "", fmt.Errorf("file_url download failed: %v", err)
	}
	if int64(len(b)) > f.max {
		return nil, "", fmt.Errorf("file_url exceeds %d bytes (use the chunked upload tools)", f.max)
	}
	name := path.Base(resp.Request.URL.Path)
	if name == "." || name == "/" {
		name = "upload.bin"
	}
	return b, name, nil
}

// blockedAddr reports addresses a download must never reach: anything
// but public unicast — loopback, RFC 1918 and unique-local, link-local
// (cloud metadata lives there), CGNAT, unspecified, multicast, and the
// IPv4-mapped forms of all of these.
func blockedAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return true
	}
	for _, p := range blockedPrefixes() {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// blockedPrefixes are special-purpose ranges netip has no predicate for.
func blockedPrefixes() []netip.Prefix {
	return []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
		netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT
		netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
		netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
		netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
		netip.MustParsePrefix("64:ff9b::/96"),    // NAT64 can reach private IPv4
		netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
		netip.MustParsePrefix("2002::/16"),       // 6to4 embeds any IPv4
		netip.MustParsePrefix("2001::/32"),       // Teredo
		netip.MustParsePrefix("100::/64"),        // discard
		netip.MustParsePrefix("2001:db8::/32"),   // documentation
		netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
		netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated) embeds any IPv4
		netip.MustParsePrefix("::ffff:0:0:0/96"), // SIIT IPv4-translated
	}
}
