// Package vendorbodytest sends the bodies that vendor fakes answer with
// when they play a hostile vendor: one dripping a byte at a time, one
// padded to any size. Every vendor's fake writes them the same way, so a
// client's test of its limits means the same thing for every vendor.
package vendorbodytest

import (
	"net/http"
	"strings"
	"time"
)

// Write sends body to w after the header was written. With drip > 0 it
// sends one byte every drip, flushing each; with pad above len(body) it
// follows body with spaces up to pad bytes in all. It stops when the
// client goes away.
func Write(w http.ResponseWriter, r *http.Request, body string, drip time.Duration, pad int) {
	if drip > 0 {
		fl, _ := w.(http.Flusher)
		for i := range len(body) {
			if _, err := w.Write([]byte{body[i]}); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
			select {
			case <-time.After(drip):
			case <-r.Context().Done():
				return
			}
		}
		return
	}
	if _, err := w.Write([]byte(body)); err != nil {
		return
	}
	chunk := []byte(strings.Repeat(" ", 32<<10))
	for left := pad - len(body); left > 0 && r.Context().Err() == nil; left -= len(chunk) {
		if _, err := w.Write(chunk[:min(left, len(chunk))]); err != nil {
			return
		}
	}
}
