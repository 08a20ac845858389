package oidcverify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
)

// KeySummary describes one loaded verification key without its material,
// for operator diagnostics (`sentinelx-mcp doctor`).
type KeySummary struct {
	KID string `json:"kid"`
	Alg string `json:"alg"` // empty when the IdP does not pin one
	Kty string `json:"kty"`
}

// Keys lists the key set currently used to verify JWTs: what the IdP
// published minus what the verifier skipped as unusable.
func (v *Verifier) Keys() []KeySummary {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]KeySummary, 0, len(v.keys))
	for _, k := range v.keys {
		kty := "other"
		switch k.Key.(type) {
		case *rsa.PublicKey:
			kty = "RSA"
		case *ecdsa.PublicKey:
			kty = "EC"
		case ed25519.PublicKey:
			kty = "OKP"
		}
		out = append(out, KeySummary{KID: k.KeyID, Alg: k.Algorithm, Kty: kty})
	}
	return out
}
