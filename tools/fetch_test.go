package tools

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBlockedAddr(t *testing.T) {
	tests := []struct {
		addr    string
		blocked bool
	}{
		{"127.0.0.1", true}, {"127.8.9.10", true}, {"::1", true}, {"::ffff:127.0.0.1", true},
		{"10.1.2.3", true}, {"172.16.0.1", true}, {"172.31.255.255", true}, {"192.168.1.1", true},
		{"169.254.169.254", true}, {"fe80::1", true}, {"fd00::1", true}, {"fc00::1", true},
		{"100.64.0.1", true}, {"0.0.0.0", true}, {"::", true}, {"224.0.0.1", true}, {"ff02::1", true},
		{"255.255.255.255", true}, {"198.18.0.1", true}, {"64:ff9b::a00:1", true}, {"2002:a00:1::", true},
		{"::ffff:10.0.0.1", true}, {"::ffff:169.254.169.254", true},
		{"8.8.8.8", false}, {"1.1.1.1", false}, {"172.32.0.1", false}, {"2606:4700:4700::1111", false},
		{"100.128.0.1", false}, {"11.0.0.1", false},
	}
	for _, tt := range tests {
		if got := blockedAddr(netip.MustParseAddr(tt.addr)); got != tt.blocked {
			t.Errorf("blockedAddr(%s) = %v, want %v", tt.addr, got, tt.blocked)
		}
	}
}

// tlsServer serves body over https on 127.0.0.1 and returns a Fetcher
// that trusts its certificate. Tests never dial anything but loopback.
func tlsServer(t *testing.T, h http.Handler, allow []string, blocked func(netip.Addr) bool) (*httptest.Server, *Fetcher) {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	if allow == nil {
		allow = []string{srv.URL + "/files/"}
	}
	f := newFetcher(allow, blocked)
	f.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	return srv, f
}

func allowLoopback(a netip.Addr) bool { return !a.Unmap().IsLoopback() && blockedAddr(a) }

func TestFetch(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/files/a.txt", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	mux.HandleFunc("/files/redirect-same", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/files/a.txt", http.StatusFound)
	})
	mux.HandleFunc("/files/redirect-outside", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/private/x", http.StatusFound)
	})
	mux.HandleFunc("/files/redirect-host", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://localhost:1/files/a.txt", http.StatusFound)
	})
	mux.HandleFunc("/files/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, 1025))
	})
	mux.HandleFunc("/files/missing", http.NotFound)
	ctx := context.Background()

	t.Run("loopback refused at dial time", func(t *testing.T) {
		srv, f := tlsServer(t, mux, nil, blockedAddr)
		_, _, err := f.Fetch(ctx, srv.URL+"/files/a.txt")
		if err == nil || !strings.Contains(err.Error(), "non-public address") {
			t.Fatalf("err = %v, want a refusal naming the non-public address", err)
		}
	})
	srv, f := tlsServer(t, mux, nil, allowLoopback)
	tests := []struct {
		name, url, want string
		ok              bool
	}{
		{"allowed", srv.URL + "/files/a.txt", "hello", true},
		{"redirect inside prefix", srv.URL + "/files/redirect-same", "hello", true},
		{"redirect outside prefix", srv.URL + "/files/redirect-outside", "outside UPLOAD_URL_ALLOW", false},
		{"redirect to another host", srv.URL + "/files/redirect-host", "another host", false},
		{"not under prefix", srv.URL + "/private/x", "not under an allowed prefix", false},
		{"prefix is not a host prefix", strings.Replace(srv.URL, "127.0.0.1", "127.0.0.1.evil", 1) + "/files/a.txt", "not under an allowed prefix", false},
		{"http refused", strings.Replace(srv.URL, "https", "http", 1) + "/files/a.txt", "must be https", false},
		{"userinfo refused", strings.Replace(srv.URL, "https://", "https://u:p@", 1) + "/files/a.txt", "not under an allowed prefix", false},
		{"404", srv.URL + "/files/missing", "HTTP 404", false},
		{"relative", "/files/a.txt", "not an absolute URL", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, name, err := f.Fetch(ctx, tt.url)
			if tt.ok {
				if err != nil || string(b) != tt.want || name != "a.txt" {
					t.Fatalf("Fetch = %q, %q, %v", b, name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	t.Run("size cap", func(t *testing.T) {
		f.max = 1024
		defer func() { f.max = maxDownloadBytes }()
		if _, _, err := f.Fetch(ctx, srv.URL+"/files/big"); err == nil || !strings.Contains(err.Error(), "1024") {
			t.Fatalf("err = %v, want size cap", err)
		}
	})
	t.Run("disabled without allow list", func(t *testing.T) {
		if _, _, err := NewFetcher(nil).Fetch(ctx, srv.URL+"/files/a.txt"); err == nil || !strings.Contains(err.Error(), "UPLOAD_URL_ALLOW is empty") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestReadLocal(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(dir, "new.txt"), []byte("content"), 0o600)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("token"), 0o600)
	os.Mkdir(filepath.Join(dir, "sub"), 0o700)
	os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "escape"))
	os.Symlink("new.txt", filepath.Join(dir, "inside-link"))
	tests := []struct {
		name, dir, path, want string
		ok                    bool
	}{
		{"relative", dir, "new.txt", "content", true},
		{"absolute inside", dir, filepath.Join(dir, "new.txt"), "content", true},
		{"file url inside", dir, "file://" + filepath.Join(dir, "new.txt"), "content", true},
		{"symlink inside", dir, "inside-link", "content", true},
		{"dot dot", dir, "../" + filepath.Base(outside) + "/secret", "outside", false},
		{"absolute outside", dir, filepath.Join(outside, "secret"), "outside", false},
		{"proc environ", dir, "/proc/self/environ", "outside", false},
		{"symlink escape", dir, "escape", "outside", false},
		{"directory", dir, "sub", "not a regular file", false},
		{"missing", dir, "nope", "unable to read", false},
		{"url", dir, "https://example.com/x", "not a URL", false},
		{"disabled", "", "new.txt", "EDIT_UPLOAD_LOCAL_DIR is not set", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _, err := readLocal(tt.dir, tt.path, 1<<20)
			if tt.ok {
				if err != nil || string(b) != tt.want {
					t.Fatalf("readLocal = %q, %v", b, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDecodeBase64(t *testing.T) {
	for _, in := range []string{"aGVsbG8=", "aGVsbG8", "aGVs\nbG8=", " aGVsbG8= "} {
		if b, err := decodeBase64(in, 100); err != nil || string(b) != "hello" {
			t.Errorf("decodeBase64(%q) = %q, %v", in, b, err)
		}
	}
	if _, err := decodeBase64("not base64!", 100); err == nil || !strings.Contains(err.Error(), "invalid base64") {
		t.Errorf("err = %v", err)
	}
	if _, err := decodeBase64(strings.Repeat("A", 400), 100); err == nil || !strings.Contains(err.Error(), "exceed") {
		t.Errorf("size cap: err = %v", err)
	}
}
