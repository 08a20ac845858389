package idptest

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"time"
)

// Raw builds a compact JWS from a header and claims as given (no defaults)
// and an arbitrary signature. It is how tests forge tokens no signer would
// produce.
func Raw(header, claims map[string]any, sig []byte) string {
	return b64json(header) + "." + b64json(claims) + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// Unsigned returns an alg "none" token with the default claims merged with
// claims and an empty signature.
func (p *IdP) Unsigned(claims map[string]any) string {
	return Raw(map[string]any{"alg": "none", "typ": "JWT"}, p.Claims(time.Now(), claims), nil)
}

// HS256WithPublicKey returns the classic key-confusion forgery: HS256 with
// the PEM of the IdP's RSA public key as the HMAC secret and the RSA key's
// kid, so a verifier that lets the token choose the algorithm accepts it.
func (p *IdP) HS256WithPublicKey(claims map[string]any) string {
	p.tb.Helper()
	der, err := x509.MarshalPKIXPublicKey(p.RSA.Public())
	if err != nil {
		p.tb.Fatalf("idptest: %v", err)
	}
	secret := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	signingInput := b64json(map[string]any{"alg": "HS256", "typ": "JWT", "kid": p.RSA.KID}) + "." + b64json(p.Claims(time.Now(), claims))
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signingInput))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TamperSignature flips one bit of token's signature.
func TamperSignature(token string) string {
	i := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[i+1:])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[len(sig)/2] ^= 0x01
	return token[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
}

// TamperPayload replaces token's claims with claims, keeping the original
// header and signature (a signature that no longer matches).
func TamperPayload(token string, claims map[string]any) string {
	parts := strings.SplitN(token, ".", 3)
	if len(parts) != 3 {
		return token
	}
	return parts[0] + "." + b64json(claims) + "." + parts[2]
}

func b64json(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic("idptest: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
