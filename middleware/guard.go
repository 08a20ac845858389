package middleware

import (
	"net"
	"net/http"
	"strings"
)

// GuardOptions configures [Guard].
type GuardOptions struct {
	// Hosts are the Host header names accepted, without port, e.g.
	// "sentinelx.example.com". Loopback names are always accepted.
	Hosts []string
	// Origins are the browser origins accepted, e.g.
	// "https://sentinelx.example.com"; "null" only when listed.
	Origins []string
}

// corsAllowHeaders are the request headers browser MCP clients send.
const corsAllowHeaders = "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name"

// corsExposeHeaders lets browser clients read the challenge and the session.
const corsExposeHeaders = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"

// Guard protects /mcp against DNS rebinding and cross-site requests: a Host
// that is not ours or a browser Origin that is not allowed gets 403 before
// anything else runs. It also answers CORS preflights (which carry no
// token) and adds CORS headers for allowed origins, so browser clients such
// as MCP Inspector can read WWW-Authenticate and Mcp-Session-Id.
//
// go-sdk's own localhost protection is turned off by the server because it
// rejects the public Host that nginx forwards with proxy_set_header Host
// $host; this guard replaces it with an explicit allowlist.
func Guard(opts GuardOptions) func(http.Handler) http.Handler {
	hostOK := hostAllowed(opts.Hosts)
	origins := map[string]bool{}
	for _, o := range opts.Origins {
		origins[normalizeOrigin(o)] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hostOK(r.Host) {
				WriteRPCError(w, http.StatusForbidden, nil, CodeForbidden, "Forbidden: Host header is not allowed")
				return
			}
			origin, hasOrigin := r.Header["Origin"]
			if hasOrigin {
				o := ""
				if len(origin) > 0 {
					o = origin[0]
				}
				if len(origin) != 1 || !origins[normalizeOrigin(o)] {
					WriteRPCError(w, http.StatusForbidden, nil, CodeForbidden, "Forbidden: Origin is not allowed")
					return
				}
				h := w.Header()
				h.Set("Access-Control-Allow-Origin", o)
				h.Add("Vary", "Origin")
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			}
			if r.Method == http.MethodOptions {
				h := w.Header()
				h.Set("Allow", "GET, POST, DELETE, OPTIONS")
				if hasOrigin {
					h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
					h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
					h.Set("Access-Control-Max-Age", "86400")
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// GuardHost refuses a request whose Host is not one of hosts or a loopback
// name with 403, like [Guard] but without the browser (Origin, CORS) part.
// It keeps pages that describe internal addresses (the status page,
// /readyz, /metrics) out of reach of DNS rebinding: a page on an attacker's
// domain that resolves to this server sends that domain as Host.
func GuardHost(hosts []string) func(http.Handler) http.Handler {
	hostOK := hostAllowed(hosts)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !hostOK(r.Host) {
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, "Forbidden: Host header is not allowed", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// hostAllowed returns the Host check both guards use: the configured
// names, and loopback names and addresses, port ignored.
func hostAllowed(names []string) func(hostport string) bool {
	hosts := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range names {
		hosts[strings.ToLower(strings.TrimSpace(h))] = true
	}
	return func(hostport string) bool {
		h := hostname(hostport)
		return hosts[h] || IsLoopback(h)
	}
}

// hostname strips the port and IPv6 brackets from a Host header and
// lowercases it.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.Trim(h, "[]"))
}

// IsLoopback reports whether host (a name or an IP, without port;
// brackets around an IPv6 address are allowed) is localhost or a loopback
// address. It is the one loopback check of the repository: the Host guard,
// the plain-http exception of RESOURCE_URL, dev mode, its authorization
// server and the agent command all ask it.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// normalizeOrigin lowercases and drops a trailing slash so configured
// values match what browsers send ("https://a.example", never a path).
func normalizeOrigin(o string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(o)), "/")
}
