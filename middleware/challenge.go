package middleware

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Challenger writes RFC 6750 / RFC 9728 challenges. Every 401 and 403 on
// /mcp carries resource_metadata so a client that arrives with nothing but
// the MCP URL can discover the authorization server (MCP 2025-06-18 requires
// it on every 401; 2025-11-25 accepts it or the well-known URL, so we do both).
type Challenger struct {
	// ResourceMetadataURL is the path-form PRM URL, e.g.
	// "https://sentinelx.example.com/.well-known/oauth-protected-resource/mcp".
	ResourceMetadataURL string
	// KnownScopes are the scopes this resource defines (the tool table's),
	// in a stable order. A 403 for a client of 2025-11-25 or earlier also
	// names the token's scopes that are among them; see [StepUpScope].
	KnownScopes []string
}

// accumulatingRevision is the first MCP revision whose clients keep the
// scopes they hold when they answer a 403 (2026-07-28 makes accumulating
// the client's job); earlier revisions tell clients to request what the
// challenge names.
const accumulatingRevision = "2026-07-28"

// StepUpScope is the scope a 403 insufficient_scope names for a request of
// the given MCP-Protocol-Version that needs needed and holds granted.
//
// Clients of 2025-11-25 and earlier re-request what the challenge names,
// and several replace their scope with it: told only "sentinelx:exec" after
// holding "sentinelx:state", they lose state, get a 403 on the next state
// call, and flip-flop, signing in on every switch. So for them the scope is
// the token's scopes this resource knows plus what the call needs (the
// SPEC-CHECKLIST B9 "recommended" strategy; scopes of other resources or
// OpenID's are not ours to name). From 2026-07-28 on, accumulating is the
// client's job and the scope names only what the call needs. A missing
// header means 2025-03-26 (transport spec), and revisions are dates, so
// they compare as strings.
func (c Challenger) StepUpScope(version string, granted, needed []string) []string {
	if version >= accumulatingRevision {
		return needed
	}
	var out []string
	for _, k := range c.KnownScopes {
		if slices.Contains(granted, k) || slices.Contains(needed, k) {
			out = append(out, k)
		}
	}
	for _, n := range needed {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// Missing answers a request that needs a token and carried none: 401 with no
// error= (RFC 6750 §3.1 says a request without credentials gets none) and the
// scopes the call needs, so clients ask for exactly those.
func (c Challenger) Missing(w http.ResponseWriter, id json.RawMessage, scopes []string) {
	params := []string{param("resource_metadata", c.ResourceMetadataURL)}
	if len(scopes) > 0 {
		params = append(params, param("scope", strings.Join(scopes, " ")))
	}
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	WriteRPCError(w, http.StatusUnauthorized, id, CodeUnauthorized, "Missing Authorization header")
}

// InvalidToken answers a token that failed verification. The reason is for
// the log only; the client learns just that the token is not accepted.
func (c Challenger) InvalidToken(w http.ResponseWriter, id json.RawMessage) {
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join([]string{
		param("error", "invalid_token"),
		param("error_description", "The access token is invalid or expired"),
		param("resource_metadata", c.ResourceMetadataURL),
	}, ", "))
	WriteRPCError(w, http.StatusUnauthorized, id, CodeUnauthorized, "Invalid access token")
}

// InsufficientScope answers a valid token that lacks a scope (MCP step-up
// authorization). scope is what the client should ask for, from
// [Challenger.StepUpScope]; the JSON-RPC message names what is missing.
func (c Challenger) InsufficientScope(w http.ResponseWriter, id json.RawMessage, scope, missing []string) {
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join([]string{
		param("error", "insufficient_scope"),
		param("scope", strings.Join(scope, " ")),
		param("resource_metadata", c.ResourceMetadataURL),
	}, ", "))
	WriteRPCError(w, http.StatusForbidden, id, CodeForbidden, "Missing required scope: "+strings.Join(missing, " "))
}

// InvalidRequest answers a malformed authorization attempt (RFC 6750 §3.1):
// two Authorization headers, or a token in the query string.
func (c Challenger) InvalidRequest(w http.ResponseWriter, id json.RawMessage, message string) {
	w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join([]string{
		param("error", "invalid_request"),
		param("error_description", message),
		param("resource_metadata", c.ResourceMetadataURL),
	}, ", "))
	WriteRPCError(w, http.StatusBadRequest, id, CodeInvalidRequest, message)
}

// param formats one auth-param. Values here never hold a quote or backslash
// (URLs, scope tokens, fixed messages), but escape anyway so a configured URL
// cannot break the header.
func param(k, v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `"`, `\"`)
	return k + `="` + v + `"`
}
