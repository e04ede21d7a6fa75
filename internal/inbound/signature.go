package inbound

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// SignatureHeader carries a request signature:
//
//	Relay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>
const SignatureHeader = "Relay-Signature"

// SignatureTolerance is how far a signature's time may be from ours.
const SignatureTolerance = 5 * time.Minute

// Sign computes the Relay-Signature value for body at t with secret;
// clients in Go can use it, others follow the README's openssl recipe.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(ts))
	h.Write([]byte("."))
	h.Write(body)
	return h.Sum(nil)
}

// signatures verifies Relay-Signature for the keys that must sign, and
// refuses a signature seen before within the tolerance (a replayed
// request). The memory of seen signatures is per process: replicas behind
// a load balancer each refuse replays they saw.
type signatures struct {
	secrets map[string]string // key name -> secret, for keys that sign

	mu   sync.Mutex
	seen map[[sha256.Size]byte]time.Time // MAC -> expiry
	next time.Time                       // next sweep of expired entries
}

func newSignatures(secrets map[string]string) *signatures {
	if len(secrets) == 0 {
		return nil
	}
	return &signatures{secrets: secrets, seen: map[[sha256.Size]byte]time.Time{}}
}

func (s *signatures) verify(c *fiber.Ctx, key string, now time.Time) *Problem {
	if s == nil {
		return nil
	}
	secret, must := s.secrets[key]
	if !must {
		return nil
	}
	h := c.Get(SignatureHeader)
	if h == "" {
		return errUnauthorized("this API key must sign its requests: missing " + SignatureHeader)
	}
	var ts, v1 string
	for _, part := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errUnauthorized(SignatureHeader + " needs t=<unix seconds>,v1=<hex hmac>")
	}
	at := time.Unix(sec, 0)
	if at.Before(now.Add(-SignatureTolerance)) || at.After(now.Add(SignatureTolerance)) {
		return errUnauthorized(SignatureHeader + " time is more than 5 minutes from ours (check the client clock)")
	}
	// The raw body: Ctx.Body would inflate a Content-Encoding (refused
	// before this runs, by refuseEncoded).
	got, err := hex.DecodeString(v1)
	if err != nil || !hmac.Equal(got, mac(secret, ts, c.Request().Body())) {
		return errUnauthorized(SignatureHeader + " does not match the body")
	}
	// Remembered by the MAC's bytes, not its text: hex in another case is
	// the same signature, and fiber's header strings share buffers that
	// fasthttp reuses for later requests, which would rewrite a stored key.
	var sum [sha256.Size]byte
	copy(sum[:], got)
	if s.replayed(sum, now) {
		return errUnauthorized(SignatureHeader + " was used before: sign each request anew")
	}
	return nil
}

func (s *signatures) replayed(sig [sha256.Size]byte, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.After(s.next) {
		for k, exp := range s.seen {
			if now.After(exp) {
				delete(s.seen, k)
			}
		}
		s.next = now.Add(time.Minute)
	}
	if exp, ok := s.seen[sig]; ok && now.Before(exp) {
		return true
	}
	s.seen[sig] = now.Add(2 * SignatureTolerance)
	return false
}
