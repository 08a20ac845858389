package devidp

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/pensados/sentinelx-mcp/internal/bounded"
)

// Lifetimes of the in-memory records. An authorization code must be
// redeemed quickly (RFC 6749 §4.1.2 recommends at most 10 minutes).
const (
	authRequestTTL = 10 * time.Minute
	refreshTTL     = 24 * time.Hour
)

// errNotFound is what lookups of unknown ids, codes and tokens return; op
// turns it into invalid_grant / invalid_client as the endpoint requires.
var errNotFound = errors.New("not found")

// authRequest is one authorization request from /authorize until its code
// is redeemed.
type authRequest struct {
	id          string
	clientID    string
	redirectURI string
	scopes      []string
	audience    []string // RFC 8707 resources the token will be issued for
	state       string
	nonce       string
	challenge   *oidc.CodeChallenge
	created     time.Time

	// Set by the consent page.
	subject  string
	authTime time.Time
	done     bool

	failures int    // failed exchanges of its code (grants.go)
	family   string // the grant family its code started, once redeemed
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return nil }
func (a *authRequest) GetAudience() []string                 { return a.audience }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.challenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return oidc.ResponseTypeCode }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return oidc.ResponseModeQuery }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

// grant is what a token is issued for: the refresh-token record, and the
// request passed to op for ID tokens.
type grant struct {
	clientID string
	subject  string
	scopes   []string
	audience []string
	authTime time.Time
	expires  time.Time // refresh tokens only
	// family ties every token issued from one authorization code: the
	// refresh tokens it rotates into and their access tokens. Replaying a
	// spent code or refresh token revokes the family (grants.go).
	family string
}

var _ op.RefreshTokenRequest = (*grant)(nil)

func (g *grant) GetAMR() []string            { return nil }
func (g *grant) GetAudience() []string       { return g.audience }
func (g *grant) GetAuthTime() time.Time      { return g.authTime }
func (g *grant) GetClientID() string         { return g.clientID }
func (g *grant) GetScopes() []string         { return g.scopes }
func (g *grant) GetSubject() string          { return g.subject }
func (g *grant) SetCurrentScopes(s []string) { g.scopes = s }

// signingKey is the RS256 key, fresh at every start: tokens from a previous
// run stop verifying, which is what a dev server should do.
type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct{ *signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// storage is the in-memory op.Storage. Every map is guarded by mu.
type storage struct {
	key *signingKey
	ttl time.Duration // access tokens
	now func() time.Time

	mu       sync.Mutex
	clients  map[string]*client
	requests map[string]*authRequest // by id
	codes    map[string]string       // code -> request id
	refresh  map[string]*grant       // refresh token -> grant
	tokens   map[string]*grant       // access token jti -> grant (introspection, revocation)
	// spent and revoked are the replay records (grants.go): redeemed codes
	// and rotated refresh tokens, and revoked grant families, each until
	// it could no longer be replayed. Unbounded: they are what lets a
	// replay be recognised, so none may be dropped before its time.
	spent   *bounded.Map[string, spent]
	revoked *bounded.Map[string, struct{}]
}

func newStorage(ttl time.Duration) (*storage, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	return &storage{
		key:      &signingKey{id: rand.Text()[:16], key: k},
		ttl:      ttl,
		now:      time.Now,
		clients:  map[string]*client{},
		requests: map[string]*authRequest{},
		codes:    map[string]string{},
		refresh:  map[string]*grant{},
		tokens:   map[string]*grant{},
		spent:    bounded.New[string, spent](0, 0),
		revoked:  bounded.New[string, struct{}](0, 0),
	}, nil
}

func (s *storage) addClient(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clients[c.id] = c
}

func (s *storage) client(id string) (*client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.clients[id]
	if !ok {
		return nil, errNotFound
	}
	return c, nil
}

func (s *storage) saveRequest(a *authRequest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[a.id] = a
}

// approve marks the request as consented to by subject (the consent page).
func (s *storage) approve(id, subject string) (*authRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[id]
	if !ok || s.now().Sub(a.created) > authRequestTTL {
		return nil, errNotFound
	}
	a.subject, a.authTime, a.done = subject, s.now(), true
	return a, nil
}

func (s *storage) recordToken(jti string, g *grant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[jti] = g
}

func (s *storage) token(jti string) (*grant, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.tokens[jti]
	if !ok || !s.now().Before(g.expires) {
		return nil, false
	}
	if _, gone := s.revoked.Peek(g.family, s.now()); gone && g.family != "" {
		return nil, false
	}
	return g, true
}

// The methods below implement op.Storage. Tokens are minted by idpServer
// (token.go), so the token-creating methods only serve op code paths this
// server does not route to; they still behave correctly.

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	return nil, oidc.ErrServerError().WithDescription("authorization requests are created by the dev authorization server itself")
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[id]
	if !ok {
		return nil, errNotFound
	}
	return a, nil
}

func (s *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.requests[s.codes[code]]
	if !ok {
		return nil, errNotFound
	}
	return a, nil
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.requests[id]; !ok {
		return errNotFound
	}
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	jti, exp := rand.Text(), s.now().Add(s.ttl)
	s.recordToken(jti, &grant{subject: r.GetSubject(), scopes: r.GetScopes(), audience: r.GetAudience(), expires: exp})
	return jti, exp, nil
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, r op.TokenRequest, _ string) (string, string, time.Time, error) {
	jti, exp, err := s.CreateAccessToken(ctx, r)
	if err != nil {
		return "", "", time.Time{}, err
	}
	g := &grant{subject: r.GetSubject(), scopes: r.GetScopes(), audience: r.GetAudience(), authTime: s.now()}
	if rr, ok := r.(interface{ GetClientID() string }); ok {
		g.clientID = rr.GetClientID()
	}
	return jti, s.newRefresh(g), exp, nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, tok string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.refresh[tok]
	if !ok {
		return nil, op.ErrInvalidRefreshToken
	}
	return g, nil
}

func (s *storage) TerminateSession(context.Context, string, string) error { return nil }

func (s *storage) RevokeToken(_ context.Context, tokenOrID, _, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if g, ok := s.refresh[tokenOrID]; ok {
		if g.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refresh, tokenOrID)
		return nil
	}
	delete(s.tokens, tokenOrID)
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, tok string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.refresh[tok]
	if !ok || g.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return g.subject, tok, nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	return s.client(id)
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	_, err := s.ClientCredentials(context.Background(), id, secret)
	return err
}

func (s *storage) ClientCredentials(_ context.Context, id, secret string) (op.Client, error) {
	c, err := s.client(id)
	if err != nil || c.secret == "" || !equalSecret(c.secret, secret) {
		return nil, errors.New("invalid client credentials")
	}
	return c, nil
}

func (s *storage) ClientCredentialsTokenRequest(_ context.Context, clientID string, scopes []string) (op.TokenRequest, error) {
	return &grant{clientID: clientID, subject: clientID, scopes: scopes}, nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (s *storage) SetUserinfoFromRequest(_ context.Context, u *oidc.UserInfo, r op.IDTokenRequest, _ []string) error {
	s.setUserinfo(u, r.GetSubject())
	return nil
}

func (s *storage) SetUserinfoFromToken(_ context.Context, u *oidc.UserInfo, _, subject, _ string) error {
	s.setUserinfo(u, subject)
	return nil
}

func (s *storage) setUserinfo(u *oidc.UserInfo, subject string) {
	u.Subject = subject
	if subject == devSubject {
		u.PreferredUsername = devUsername
		u.Name = "SentinelX dev user"
	}
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, r *oidc.IntrospectionResponse, jti, subject, clientID string) error {
	g, ok := s.token(jti)
	if !ok {
		return errNotFound
	}
	r.Active = true
	r.Subject = subject
	r.ClientID = g.clientID
	r.Scope = oidc.SpaceDelimitedArray(g.scopes)
	r.Audience = g.audience
	r.Expiration = oidc.FromTime(g.expires)
	if subject == devSubject {
		r.Username = devUsername
	}
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("private_key_jwt is not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not supported")
}

func (s *storage) Health(context.Context) error { return nil }

// subset reports whether every element of sub is in of.
func subset(sub, of []string) bool {
	for _, v := range sub {
		if !slices.Contains(of, v) {
			return false
		}
	}
	return true
}
