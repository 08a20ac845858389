package server

import "strings"

// accepts reports which MCP response types an Accept header allows, with
// the same wildcard rules as go-sdk.
func accepts(values []string) (json, sse bool) {
	if len(values) == 0 {
		return true, true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			base, _, _ := strings.Cut(part, ";")
			switch strings.ToLower(strings.TrimSpace(base)) {
			case "application/json", "application/*":
				json = true
			case "text/event-stream", "text/*":
				sse = true
			case "*/*":
				json, sse = true, true
			}
		}
	}
	if !json && !sse {
		return true, true // nothing usable named: answer as the spec asks clients to
	}
	return json, sse
}
