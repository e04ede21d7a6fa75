package inbound

import (
	"crypto/sha256"
	"crypto/subtle"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// KeyRing holds ingest API keys as SHA-256 digests: the secrets themselves
// are not kept in memory longer than start-up.
type KeyRing struct {
	keys []ringKey
}

type ringKey struct {
	name   string
	digest [32]byte
}

// NewKeyRing returns a ring with the given name -> secret pairs.
func NewKeyRing(secrets map[string]string) *KeyRing {
	r := &KeyRing{}
	for _, name := range sortedKeys(secrets) {
		r.keys = append(r.keys, ringKey{name: name, digest: sha256.Sum256([]byte(secrets[name]))})
	}
	return r
}

// Lookup returns the name of the key whose secret is token. Every key is
// compared, in constant time, so the answer's timing says nothing about
// which key or how much of it matched.
func (r *KeyRing) Lookup(token string) (string, bool) {
	d := sha256.Sum256([]byte(token))
	found := ""
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found = k.name
		}
	}
	return found, found != ""
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(c *fiber.Ctx) (string, *Problem) {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return "", errUnauthorized("missing Authorization: Bearer <api key>")
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", errUnauthorized("the Authorization scheme must be Bearer")
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", errUnauthorized("empty bearer token")
	}
	return token, nil
}

const localKeyName = "api_key"

// requireKey admits requests bearing a known ingest key and records the
// key's name (never its secret) for audit.
func (s *Server) requireKey(c *fiber.Ctx) error {
	token, p := bearer(c)
	if p != nil {
		return p
	}
	name, ok := s.keys.Lookup(token)
	if !ok {
		return errUnauthorized("unknown API key")
	}
	c.Locals(localKeyName, name)
	return c.Next()
}
