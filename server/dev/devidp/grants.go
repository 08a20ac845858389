package devidp

import (
	"crypto/rand"
	"errors"
)

// What burns a code or a refresh token, and what does not.
//
// A code or refresh token is spent by the exchange that succeeds with it,
// and only by that (RFC 6749 §4.1.2, §10.4; RFC 9700 §4.14.2). An exchange
// that fails on the request's own input leaves it usable, so a client that
// sent a wrong redirect_uri, code_verifier, scope or resource can correct
// itself, and someone who merely saw a code cannot destroy it:
//
//   - presented by another client: not burned, not counted (the owner's
//     code must not be spendable by anyone who learns it);
//   - wrong code_verifier, redirect_uri or resource: not burned, but a code
//     survives at most maxCodeFailures of these (a verifier has 256 bits,
//     so the cap is defence in depth, not the protection);
//   - a refresh asking for more scope or another resource: not burned;
//   - expired: gone.
//
// Replaying what an earlier exchange spent (a used code, a rotated refresh
// token, by the client it was issued to) is the sign of a stolen
// credential: the whole grant family (every refresh token and access token
// that descends from the same code) is revoked, RFC 6749 §4.1.2 and
// RFC 9700 §4.14.2. Access tokens are JWTs the bridge verifies on its own,
// so revocation shows at introspection and refresh, not in a token already
// handed out; they live one TokenTTL.

// maxCodeFailures is how many failed exchanges an authorization code
// survives.
const maxCodeFailures = 5

var (
	errReplay      = errors.New("already used; every token issued from the same authorization is revoked")
	errOtherClient = errors.New("issued to another client")
)

// spent is a redeemed code or rotated refresh token, kept until it would
// have expired so that a replay is recognised.
type spent struct {
	family   string
	clientID string
}

func codeKey(code string) string   { return "code:" + code }
func refreshKey(tok string) string { return "rt:" + tok }

// redeem returns the approved request behind code when check accepts it,
// and spends the code: its grant family is set, and a later replay revokes
// that family. A failed check leaves the code as described above.
func (s *storage) redeem(code, clientID string, check func(*authRequest) error) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.spent.Peek(codeKey(code), s.now()); ok {
		if sp.clientID == clientID {
			s.revokeFamily(sp.family)
			return nil, errReplay
		}
		return nil, errOtherClient
	}
	id, ok := s.codes[code]
	a := s.requests[id]
	if !ok || a == nil || !a.done || s.now().Sub(a.created) > authRequestTTL {
		delete(s.codes, code)
		if a != nil && s.now().Sub(a.created) > authRequestTTL {
			delete(s.requests, id)
		}
		return nil, errNotFound
	}
	if a.clientID != clientID {
		return nil, errOtherClient
	}
	if err := check(a); err != nil {
		a.failures++
		if a.failures >= maxCodeFailures {
			delete(s.codes, code)
			delete(s.requests, id)
		}
		return nil, err
	}
	delete(s.codes, code)
	delete(s.requests, id)
	a.family = rand.Text()
	s.prune()
	s.spent.PutUntil(codeKey(code), spent{family: a.family, clientID: clientID}, a.created.Add(authRequestTTL), s.now())
	return a, nil
}

// newRefresh stores a refresh token for g, in g's family.
func (s *storage) newRefresh(g *grant) string {
	tok := rand.Text() + rand.Text()
	c := *g
	c.expires = s.now().Add(refreshTTL)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refresh[tok] = &c
	return tok
}

// useRefresh returns the grant of a refresh token when check accepts it,
// and rotates the token out (OAuth 2.1 §4.3.1): presenting it again later
// revokes its family. A token presented by another client, or refused by
// check, stays valid.
func (s *storage) useRefresh(tok, clientID string, check func(*grant) error) (*grant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp, ok := s.spent.Peek(refreshKey(tok), s.now()); ok {
		if sp.clientID == clientID {
			s.revokeFamily(sp.family)
			return nil, errReplay
		}
		return nil, errNotFound
	}
	g, ok := s.refresh[tok]
	if !ok || g.clientID != clientID {
		return nil, errNotFound
	}
	if _, gone := s.revoked.Peek(g.family, s.now()); gone || !s.now().Before(g.expires) {
		delete(s.refresh, tok)
		return nil, errNotFound
	}
	if err := check(g); err != nil {
		return nil, err
	}
	delete(s.refresh, tok)
	s.prune()
	s.spent.PutUntil(refreshKey(tok), spent{family: g.family, clientID: clientID}, g.expires, s.now())
	return g, nil
}

// revokeFamily drops every refresh token and access-token record of a
// grant family, and remembers the family so that a token issued by an
// exchange already under way is refused too. Callers hold s.mu.
func (s *storage) revokeFamily(family string) {
	if family == "" {
		return
	}
	s.revoked.PutUntil(family, struct{}{}, s.now().Add(refreshTTL), s.now())
	for tok, g := range s.refresh {
		if g.family == family {
			delete(s.refresh, tok)
		}
	}
	for jti, g := range s.tokens {
		if g.family == family {
			delete(s.tokens, jti)
		}
	}
}

// prune forgets spent credentials and revoked families past their time, so
// the replay records stay bounded by what could still be replayed. Callers
// hold s.mu.
func (s *storage) prune() {
	now := s.now()
	s.spent.Sweep(now)
	s.revoked.Sweep(now)
}
