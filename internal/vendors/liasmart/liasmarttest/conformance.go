package liasmarttest

import (
	"net/http"

	"relay/internal/vendors/confirm/confirmtest"
)

// Conformant is f, serving at url, as the confirm clients' conformance
// suite (confirmtest) drives it, each answer in CTrack's words.
func Conformant(f *Fake, url string) confirmtest.Fake { return conformant{f, url} }

type conformant struct {
	f   *Fake
	url string
}

func (c conformant) URL() string                { return c.url }
func (c conformant) Calls(messageID string) int { return c.f.CallsFor(messageID) }
func (c conformant) Problems() []string         { return c.f.Problems() }

// Answer queues CTrack's own answer for kind. CTrack has no throttling
// code: its rate limit is an HTTP 429.
func (c conformant) Answer(messageID string, kind confirmtest.Kind) {
	var r *Reply
	switch kind {
	case confirmtest.Success:
		r = &Reply{Code: 1000}
	case confirmtest.Repeat:
		r = &Reply{Code: 1009}
	case confirmtest.Permanent:
		r = &Reply{Code: 1008}
	case confirmtest.Credentials:
		r = &Reply{Code: 1004}
	case confirmtest.Throttled:
		r = &Reply{Status: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"7"}}}
	case confirmtest.ServerError:
		r = &Reply{Status: http.StatusServiceUnavailable}
	}
	c.f.Queue(messageID, r)
}

func (c conformant) Raw(messageID string, raw confirmtest.Raw) {
	c.f.Queue(messageID, &Reply{Status: raw.Status, ContentType: raw.ContentType, Header: raw.Header,
		Body: raw.Body, Delay: raw.Delay, Drip: raw.Drip, Pad: raw.Pad})
}
