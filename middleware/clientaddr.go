package middleware

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies reads TRUSTED_PROXIES entries: CIDR prefixes
// ("10.0.0.0/8") or single addresses ("127.0.0.1", "::1"). The word "none"
// alone trusts nobody. It returns the first entry it cannot read.
func ParseTrustedProxies(entries []string) ([]netip.Prefix, string) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if strings.EqualFold(e, "none") && len(entries) == 1 {
			return nil, ""
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil || a.Zone() != "" {
			return nil, e
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, ""
}

type clientAddrKey struct{}

// ClientAddr records who the request comes from, for the per-address
// limits: the TCP peer, unless the peer is one of trusted (a reverse proxy
// that sets the headers, such as deploy/nginx.conf), in which case the
// address the proxy saw. Headers from any other peer are ignored, so a
// client cannot pick its own address to dodge a limit.
//
// X-Forwarded-For is read right to left, skipping trusted addresses: the
// rightmost entry not written by a trusted proxy is the first one a client
// could not forge (nginx's $proxy_add_x_forwarded_for appends to whatever
// the client sent). X-Real-IP is used when there is no X-Forwarded-For.
func ClientAddr(trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := clientAddr(r, trusted)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientAddrKey{}, a)))
		})
	}
}

// ClientAddrFrom returns the address [ClientAddr] recorded; ok is false
// when it did not run or the peer address was unreadable.
func ClientAddrFrom(ctx context.Context) (a netip.Addr, ok bool) {
	a, ok = ctx.Value(clientAddrKey{}).(netip.Addr)
	return a, ok && a.IsValid()
}

// ClientKey is the bucket key of a client address for per-address limits.
// An IPv6 client is keyed by its /64: one host usually owns a whole /64,
// and keying single addresses would give it 2^64 buckets.
func ClientKey(ctx context.Context) string {
	a, ok := ClientAddrFrom(ctx)
	if !ok {
		return "unknown"
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	peer := parseAddr(r.RemoteAddr)
	if !peer.IsValid() || !inPrefixes(peer, trusted) {
		return peer
	}
	if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		hops := strings.Split(strings.Join(xff, ","), ",")
		for i := len(hops) - 1; i >= 0; i-- {
			a := parseAddr(strings.TrimSpace(hops[i]))
			if !a.IsValid() {
				// An unreadable hop: everything left of it is the client's
				// own claim. Stop at the last address we can vouch for.
				return peer
			}
			if !inPrefixes(a, trusted) {
				return a
			}
			peer = a
		}
		return peer
	}
	if a := parseAddr(strings.TrimSpace(r.Header.Get("X-Real-IP"))); a.IsValid() {
		return a
	}
	return peer
}

// parseAddr reads "ip", "ip:port" or "[ipv6]:port", dropping any zone and
// IPv4-in-IPv6 mapping; the zero Addr when it is none of them.
func parseAddr(s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.WithZone("").Unmap()
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.WithZone("").Unmap()
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
