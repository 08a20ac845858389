package middleware

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"time"
)

// A POST body is read in at most two steps so that memory follows trust.
// [ReadBody] reads up to the anonymous cap (1 MiB), which is all any
// request needs until a token is known to be good. A longer body that
// comes with an Authorization header is parked as a pendingBody; [Bearer]
// verifies the token (which needs only the header) and then calls
// finishBody to read the rest up to MCP_MAX_BODY_BYTES. A junk token thus
// gets its 401 after at most 1 MiB, instead of after the server has
// buffered 16 MiB of whatever the client sends at whatever pace.

// pendingBody is a request body read so far, and the bounds for the rest.
type pendingBody struct {
	body     []byte
	max      int64     // MCP_MAX_BODY_BYTES
	deadline time.Time // for the whole body, both steps together
}

type pendingBodyKey struct{}

// read reads until the body holds limit bytes, under the body's read
// deadline, and reports whether the client sent more than that (one byte
// more is read to know).
func (p *pendingBody) read(w http.ResponseWriter, r *http.Request, limit int64) (more bool, err error) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(p.deadline)
	defer func() { _ = rc.SetReadDeadline(time.Time{}) }()
	buf := bytes.NewBuffer(p.body)
	_, err = buf.ReadFrom(io.LimitReader(r.Body, limit-int64(len(p.body))+1))
	p.body = buf.Bytes()
	if err != nil {
		return false, err
	}
	// The byte past limit stays: a parked body goes on from there.
	return int64(len(p.body)) > limit, nil
}

// hasCredentials reports an Authorization header [Bearer] will verify:
// blank values carry none and are treated as anonymous there too.
func hasCredentials(r *http.Request) bool {
	return len(nonEmpty(r.Header.Values("Authorization"))) > 0
}

// finishBody reads the rest of a body [ReadBody] parked, now that the
// token is verified, and returns the request with its messages. It returns
// false after answering the request itself (too large, unreadable,
// malformed). A request without a parked body is returned as it is.
func finishBody(w http.ResponseWriter, r *http.Request) (*http.Request, bool) {
	p, _ := r.Context().Value(pendingBodyKey{}).(*pendingBody)
	if p == nil {
		return r, true
	}
	more, err := p.read(w, r, p.max)
	switch {
	case err != nil:
		WriteRPCError(w, http.StatusBadRequest, nil, CodeParseError, "Could not read request body")
		return nil, false
	case more:
		tooLarge(w, p.max, false)
		return nil, false
	}
	r = r.WithContext(context.WithValue(r.Context(), pendingBodyKey{}, (*pendingBody)(nil)))
	r = withMessages(w, r, p.body)
	return r, r != nil
}

// hasPendingBody reports a body parked for a token that was never verified.
func hasPendingBody(r *http.Request) bool {
	p, _ := r.Context().Value(pendingBodyKey{}).(*pendingBody)
	return p != nil
}

// tooLarge answers 413 for a body over limit, the anonymous cap or not,
// and closes the connection: the rest of the body is never read.
func tooLarge(w http.ResponseWriter, limit int64, anonymous bool) {
	msg := "Request body exceeds " + strconv.FormatInt(limit, 10) + " bytes"
	if anonymous {
		msg += " (the limit without an access token; send one for larger calls)"
	}
	w.Header().Set("Connection", "close")
	WriteRPCError(w, http.StatusRequestEntityTooLarge, nil, CodeInvalidRequest, msg)
}
