package middleware

import (
	"net/http"
	"strconv"
)

// MaxBatch refuses a JSON-RPC batch of more than max messages with one
// JSON-RPC error (400, Invalid Request) before any of them is processed. go-sdk accepts batches of any length on 2025-03-26 and
// answers every message, so a 0.5 MiB body of 10,000 tools/list requests
// cost ~190 MiB of response, ~900 MiB of RSS and 13–40 s of CPU. Real
// clients send one message per request; max < 1 means no limit. It runs
// after [Bearer]: a body over the anonymous read is finished only once its
// token is verified, and only then are all of its messages known.
func MaxBatch(max int) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if max < 1 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if msgs, _ := Messages(r.Context()); len(msgs) > max {
				WriteRPCError(w, http.StatusBadRequest, nil, CodeInvalidRequest,
					"Invalid Request: batch of "+strconv.Itoa(len(msgs))+" messages; at most "+
						strconv.Itoa(max)+" are accepted in one request (MCP_MAX_BATCH)")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
