package handlers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// page is what the shared layout needs from every view.
type page struct {
	Title   string
	Current string // nav entry to mark: status, healthz, readyz, metadata
	Now     string // when the page was rendered
}

// checkLabel names the readiness checks server registers for people.
func checkLabel(name string) string {
	switch name {
	case "upstream":
		return "Upstream agent"
	case "token_keys":
		return "Token verification keys"
	case "policy":
		return "Authorization policy"
	case "hosts":
		return "Hosts (AGENTS_FILE)"
	}
	return name
}

type readyView struct {
	page
	Status string
	Ready  bool
	Code   int
	Checks []readyCheckView
	JSON   string
}

type readyCheckView struct {
	Name, Label, Error string
	OK                 bool
	Detail             []detailRow
}

type detailRow struct{ Key, Value string }

// detailRows lists a check's detail in key order, values as text.
func detailRows(d map[string]any) []detailRow {
	rows := make([]detailRow, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		rows = append(rows, detailRow{k, detailValue(d[k])})
	}
	return rows
}

// detailValue words one detail for people: nested objects (the hosts
// check's per-host results) as "name: {key: value, …}" in key order, not
// Go's map syntax.
func detailValue(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Sprint(v)
	}
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if inner, ok := m[k].(map[string]any); ok {
			parts = append(parts, k+": {"+detailValue(inner)+"}")
			continue
		}
		parts = append(parts, k+": "+detailValue(m[k]))
	}
	return strings.Join(parts, ", ")
}

// redactDetail copies d with every URL-looking string passed through
// [redactURL].
func redactDetail(d map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		if s, ok := v.(string); ok && strings.Contains(s, "://") {
			v = redactURL(s)
		}
		out[k] = v
	}
	return out
}

// humanDuration is d to the second in its two largest units, the second
// one left out when zero: "3d 4h", "1h 30m", "7m", "42s".
func humanDuration(d time.Duration) string {
	s := int64(max(d, 0).Round(time.Second) / time.Second)
	units := []struct {
		n    int64
		name string
	}{{86400, "d"}, {3600, "h"}, {60, "m"}, {1, "s"}}
	for i, u := range units {
		if s < u.n && u.n > 1 {
			continue
		}
		out := fmt.Sprintf("%d%s", s/u.n, u.name)
		if i+1 < len(units) {
			if r := s % u.n / units[i+1].n; r > 0 {
				out += fmt.Sprintf(" %d%s", r, units[i+1].name)
			}
		}
		return out
	}
	return "0s"
}

// humanLatency is a round-trip time an operator can read: "850µs", "12.3ms",
// "1.2s".
func humanLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// stamp is t in UTC, to the second; empty for the zero time.
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// redactURL drops userinfo from a URL before it is shown on a public page:
// an operator may have put credentials into SENTINELX_URL or OIDC_ISSUER.
// The query string may hold a key too, so it is elided. Anything that
// does not parse is shown as a placeholder, not verbatim.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" || u.ForceQuery {
		u.RawQuery, u.ForceQuery = "", false
		return u.String() + "?…"
	}
	return u.String()
}

type metadataView struct {
	page
	PathForm    bool
	MCPURL, URL string
	Fields      []metadataField
	JSON        string
}

type metadataField struct {
	Name    string
	Values  []string
	Meaning string
}

// metadataMeaning explains an RFC 9728 field to an operator wiring an IdP.
func metadataMeaning(field string) string {
	switch field {
	case "resource":
		return "The protected resource's identifier. Clients send it as the RFC 8707 resource parameter when they ask for a token, " +
			"and the token's aud should carry it (OIDC_EXPECTED_AUDIENCE checks that). In the path form it is exactly the MCP URL."
	case "authorization_servers":
		return "Issuers that may issue tokens for this server (OIDC_ISSUER, verbatim). Clients read their OAuth/OIDC discovery " +
			"documents from there; the issuer in those documents must match this string exactly."
	case "scopes_supported":
		return "Scopes the tools need, one per group of tools (see the status page). A token needs the scope of each tool it calls; " +
			"without it the call is refused with 403 insufficient_scope."
	case "bearer_methods_supported":
		return "How tokens are sent: only in the Authorization: Bearer header. Tokens in the query string or a form body are refused."
	case "resource_name":
		return "A name clients may show to people."
	case "resource_documentation":
		return "Where people can read about this server: its status page."
	}
	return ""
}

// metadataFields lists the document's fields in document order with their
// values as strings and what they mean.
func metadataFields(body []byte) []metadataField {
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []metadataField
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return out
		}
		name, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return out
		}
		f := metadataField{Name: name, Meaning: metadataMeaning(name)}
		var one string
		var many []string
		switch {
		case json.Unmarshal(raw, &one) == nil:
			f.Values = []string{one}
		case json.Unmarshal(raw, &many) == nil:
			f.Values = many
		default:
			f.Values = []string{string(raw)}
		}
		out = append(out, f)
	}
	return out
}
