package handlers

import (
	"net/http"
	"strconv"
	"strings"
)

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
	for _, line := range h.Values("Accept") {
		for part := range strings.SplitSeq(line, ",") {
			mt, q, ok := parseMediaRange(part)
			if !ok {
				continue
			}
			i++
			if mt == "text/html" && html.spec == 0 {
				html = rank{q, 3, i}
			}
			if spec := jsonSpecificity(mt); spec > json.spec {
				json = rank{q, spec, i}
			}
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
