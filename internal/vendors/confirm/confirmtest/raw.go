package confirmtest

import (
	"net/http"
	"time"

	"relay/internal/vendors/vendorbody/vendorbodytest"
)

// WriteRaw answers req with r byte for byte: after r.Delay (or nothing,
// if the client goes away first), with r's headers added, its content
// type and status (200 for 0), and its body as vendorbodytest.Write sends
// it, dripping or padded. Every fake's Raw ends here, so that a hostile
// answer is the same bytes whichever vendor's client reads it.
func WriteRaw(w http.ResponseWriter, req *http.Request, r Raw) {
	if r.Delay > 0 {
		t := time.NewTimer(r.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-req.Context().Done():
			return
		}
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	if r.ContentType != "" {
		w.Header().Set("Content-Type", r.ContentType)
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	vendorbodytest.Write(w, req, r.Body, r.Drip, r.Pad)
}
