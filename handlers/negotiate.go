package handlers

import (
	"iter"
	"net/http"
	"strconv"
	"strings"
)

// This file is the one Accept-header parser: [mediaRanges] splits the
// header, [prefersHTML] picks a page or JSON for the probes and metadata,
// and [MCPAccepts] decides JSON or SSE for /mcp.

// MCPAccepts reports which MCP response types an Accept header allows,
// with the same wildcard rules as go-sdk and ignoring q values as it does.
// A header that names nothing usable (or none at all) allows both, as the
// spec asks clients to send both.
func MCPAccepts(h http.Header) (json, sse bool) {
	for mt := range mediaRanges(h) {
		switch mt {
		case "application/json", "application/*":
			json = true
		case "text/event-stream", "text/*":
			sse = true
		case "*/*":
			json, sse = true, true
		}
	}
	if !json && !sse {
		return true, true
	}
	return json, sse
}

// prefersHTML reports whether the request's Accept header asks for HTML
// before JSON, as browsers' navigation requests do. Only an explicit
// text/html counts for HTML, and application/json is ranked by its most
// specific match (application/json, application/*, */*), so curl's */*, a
// missing Accept and API clients keep getting JSON. On equal quality the
// type listed first wins.
func prefersHTML(h http.Header) bool {
	type rank struct {
		q     float64
		spec  int // specificity: 3 exact, 2 type/*, 1 */*; 0 no match
		index int
	}
	var html, json rank
	i := 0
	for mt, q := range mediaRanges(h) {
		i++
		if mt == "text/html" && html.spec == 0 {
			html = rank{q, 3, i}
		}
		if spec := jsonSpecificity(mt); spec > json.spec {
			json = rank{q, spec, i}
		}
	}
	switch {
	case html.spec == 0 || html.q == 0:
		return false
	case json.spec == 0:
		return true
	case html.q != json.q:
		return html.q > json.q
	default:
		return html.index < json.index
	}
}

func jsonSpecificity(mediaType string) int {
	switch mediaType {
	case "application/json":
		return 3
	case "application/*":
		return 2
	case "*/*":
		return 1
	}
	return 0
}

// mediaRanges yields each non-empty element of the request's Accept
// header lines, in order, as its lower-cased media type and q value.
func mediaRanges(h http.Header) iter.Seq2[string, float64] {
	return func(yield func(string, float64) bool) {
		for _, line := range h.Values("Accept") {
			for part := range strings.SplitSeq(line, ",") {
				if mt, q, ok := parseMediaRange(part); ok && !yield(mt, q) {
					return
				}
			}
		}
	}
}

// parseMediaRange splits one Accept element into its lower-cased media
// type and q value (1 when absent; malformed q values count as 0).
func parseMediaRange(s string) (mediaType string, q float64, ok bool) {
	mt, params, _ := strings.Cut(s, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	if mt == "" {
		return "", 0, false
	}
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0
			}
			q = f
		}
	}
	return mt, q, true
}
