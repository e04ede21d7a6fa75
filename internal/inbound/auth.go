package inbound

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"relay/internal/store"
)

// KeySource lists the active keys stored in PostgreSQL.
type KeySource interface {
	APIKeys(ctx context.Context, all bool) ([]store.APIKey, error)
}

// KeyRing holds ingest API keys as SHA-256 digests: the bootstrap keys of
// RELAY_API_KEYS and the keys stored in PostgreSQL, reloaded every few
// seconds so that a revocation reaches every replica without a restart.
type KeyRing struct {
	static []ringKey
	all    atomic.Pointer[[]ringKey]
}

type ringKey struct {
	name   string
	digest [32]byte
}

// NewKeyRing returns a ring with the given name -> secret pairs.
func NewKeyRing(secrets map[string]string) *KeyRing {
	r := &KeyRing{}
	for _, name := range sortedKeys(secrets) {
		r.static = append(r.static, ringKey{name: name, digest: Digest(secrets[name])})
	}
	keys := r.static
	r.all.Store(&keys)
	return r
}

// Digest is how a key secret is stored and compared.
func Digest(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// Lookup returns the name of the key whose secret is token. Every key is
// compared, in constant time, so the answer's timing says nothing about
// which key or how much of it matched.
func (r *KeyRing) Lookup(token string) (string, bool) {
	d := Digest(token)
	found := ""
	for _, k := range *r.all.Load() {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found = k.name
		}
	}
	return found, found != ""
}

// Reload replaces the stored keys with src's active ones. On error the
// previous set stays: a database hiccup must not lock every app out.
func (r *KeyRing) Reload(ctx context.Context, src KeySource) error {
	stored, err := src.APIKeys(ctx, false)
	if err != nil {
		return err
	}
	keys := append([]ringKey(nil), r.static...)
	for _, k := range stored {
		keys = append(keys, ringKey{name: k.Name, digest: k.Digest})
	}
	r.all.Store(&keys)
	return nil
}

// RunReload reloads the ring from src every interval until ctx ends.
func (r *KeyRing) RunReload(ctx context.Context, src KeySource, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, interval)
		if err := r.Reload(rctx, src); err != nil && ctx.Err() == nil {
			log.Warn("reloading API keys; keeping the previous set", "err", err)
		}
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(c *fiber.Ctx) (string, *Problem) {
	h := c.Get(fiber.HeaderAuthorization)
	if h == "" {
		return "", errUnauthorized("missing Authorization: Bearer <token>")
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
	if p := s.signatures.verify(c, name, s.cfg.Now()); p != nil {
		return p
	}
	c.Locals(localKeyName, name)
	return c.Next()
}

// requireAdmin admits requests bearing RELAY_ADMIN_TOKEN. An ingest key is
// refused here, as the admin token is refused on ingest routes.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if len(s.adminDigest) == 0 {
		// The admin API is off: its routes do not exist.
		return problem(fiber.StatusNotFound, "not-found", "Not found", "the admin API is disabled (RELAY_ADMIN_TOKEN is empty)")
	}
	token, p := bearer(c)
	if p != nil {
		return p
	}
	d := Digest(token)
	if subtle.ConstantTimeCompare(d[:], s.adminDigest) != 1 {
		return errUnauthorized("this route needs the admin token")
	}
	c.Locals(localKeyName, "admin")
	return c.Next()
}
