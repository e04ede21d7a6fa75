package aws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// maxBody bounds what is read of an answer. PutMessageFeedback's answer
// is a hundred bytes or so.
const maxBody = 64 << 10

// exchange is what the transport saw of a call's response, for the parts
// of an Answer the SDK's errors do not carry (the status of an answer it
// could not parse, its body for the Meaning, a Retry-After).
type exchange struct {
	status int
	header http.Header
	body   []byte
}

type exchangeKey struct{}

// withExchange returns ctx carrying x, for the transport to fill.
func withExchange(ctx context.Context, x *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// boundedTransport reads every response body whole, within maxBody, before
// the SDK sees it. Reading it here rather than wrapping the body is what
// makes the bound hold: the SDK decodes one JSON value from a success and
// stops, so a 20 MiB body that starts with a success would otherwise be
// read as one.
type boundedTransport struct{ base http.RoundTripper }

// errBodyTooLarge is the transport's failure for an answer over maxBody; it
// wraps both the vendor-neutral and the vendorbody sentinel.
var errBodyTooLarge = fmt.Errorf("%w (%w)", confirm.ErrTooLarge, vendorbody.ErrTooLarge)

func (t boundedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := vendorbody.Read(resp.Body, maxBody)
	resp.Body.Close()
	if x, ok := req.Context().Value(exchangeKey{}).(*exchange); ok {
		x.status, x.header, x.body = resp.StatusCode, resp.Header, body
	}
	if errors.Is(err, vendorbody.ErrTooLarge) {
		return nil, errBodyTooLarge
	}
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	return resp, nil
}

// httpClient is the http.Client the SDK is given: the caller's (copied),
// or one over base (the SDK's own transport, which carries a custom CA
// bundle where AWS_CA_BUNDLE or the profile names one), following no
// redirect, its bodies bounded.
func httpClient(given *http.Client, base *http.Transport, maxConns int) *http.Client {
	var hc http.Client
	if given != nil {
		hc = *given
	} else {
		if maxConns <= 0 {
			maxConns = 256
		}
		tr := base
		if tr == nil {
			tr = http.DefaultTransport.(*http.Transport).Clone()
		}
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = maxConns, maxConns
		hc.Transport = tr
	}
	// A redirected POST loses its body and carries the signature elsewhere:
	// a 3xx is an answer to look at, not to follow. (The SDK's own client
	// follows 307 and 308.)
	hc.CheckRedirect = confirm.NoRedirects
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = boundedTransport{base: rt}
	return &hc
}
