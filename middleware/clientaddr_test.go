package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want int
		bad  string
	}{
		{[]string{"127.0.0.0/8", "::1"}, 2, ""},
		{[]string{"10.1.2.3", "fd00::/8"}, 2, ""},
		{[]string{"none"}, 0, ""},
		{[]string{"NONE"}, 0, ""},
		{[]string{"none", "10.0.0.0/8"}, 0, "none"},
		{[]string{"10.0.0.0/33"}, 0, "10.0.0.0/33"},
		{[]string{"example.com"}, 0, "example.com"},
		{[]string{"fe80::1%eth0"}, 0, "fe80::1%eth0"},
	} {
		got, bad := ParseTrustedProxies(tc.in)
		if bad != tc.bad || (bad == "" && len(got) != tc.want) {
			t.Errorf("ParseTrustedProxies(%q) = %v, %q; want %d prefixes, bad %q", tc.in, got, bad, tc.want, tc.bad)
		}
	}
}

func TestClientAddr(t *testing.T) {
	loopback, _ := ParseTrustedProxies([]string{"127.0.0.0/8", "::1"})
	chain, _ := ParseTrustedProxies([]string{"127.0.0.1", "10.0.0.0/8"})
	for _, tc := range []struct {
		name    string
		trusted []string
		peer    string
		headers map[string]string
		want    string
	}{
		{"no proxy trusted: peer, header ignored", nil, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "127.0.0.1"},
		{"untrusted peer spoofing XFF", []string{"loopback"}, "198.51.100.7:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "198.51.100.7"},
		{"untrusted peer spoofing X-Real-IP", []string{"loopback"}, "198.51.100.7:5000", map[string]string{"X-Real-IP": "203.0.113.9"}, "198.51.100.7"},
		{"trusted proxy, XFF", []string{"loopback"}, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy appends to a client's forged XFF", []string{"loopback"}, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted proxy, X-Real-IP only", []string{"loopback"}, "[::1]:5000", map[string]string{"X-Real-IP": "2001:db8::5"}, "2001:db8::5"},
		{"trusted proxy, no header", []string{"loopback"}, "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted proxy, garbage XFF", []string{"loopback"}, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "not-an-ip"}, "127.0.0.1"},
		{"chain of trusted proxies", []string{"chain"}, "127.0.0.1:5000", map[string]string{"X-Forwarded-For": "6.6.6.6, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"IPv4-mapped peer", []string{"loopback"}, "[::ffff:127.0.0.1]:5000", map[string]string{"X-Forwarded-For": "203.0.113.9:4444"}, "203.0.113.9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := loopback
			switch {
			case tc.trusted == nil:
				p = nil
			case tc.trusted[0] == "chain":
				p = chain
			}
			req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
			req.RemoteAddr = tc.peer
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			var got string
			ClientAddr(p)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				a, ok := ClientAddrFrom(r.Context())
				if ok {
					got = a.String()
				}
			})).ServeHTTP(httptest.NewRecorder(), req)
			if got != tc.want {
				t.Errorf("client address = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClientKeyGroupsIPv6By64(t *testing.T) {
	key := func(peer string) string {
		var k string
		req := httptest.NewRequest(http.MethodPost, "/mcp", nil)
		req.RemoteAddr = peer
		ClientAddr(nil)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			k = ClientKey(r.Context())
		})).ServeHTTP(httptest.NewRecorder(), req)
		return k
	}
	if a, b := key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:2:ffff::9]:1"); a != b {
		t.Errorf("two addresses of one /64 got keys %q and %q", a, b)
	}
	if a, b := key("[2001:db8:1:2::1]:1"), key("[2001:db8:1:3::1]:1"); a == b {
		t.Errorf("two /64s share key %q", a)
	}
	if k := key("192.0.2.1:1"); k != "192.0.2.1" {
		t.Errorf("IPv4 key = %q", k)
	}
	if k := ClientKey(context.Background()); k != "unknown" {
		t.Errorf("key without ClientAddr = %q", k)
	}
}
