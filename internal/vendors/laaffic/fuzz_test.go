package laaffic_test

import (
	"errors"
	"testing"

	"relay/internal/vendors/laaffic"
	"relay/internal/vendors/signedapi"
)

// FuzzParseReport checks that no answer makes the parser panic, that
// failures are typed, and that an accepted report is coherent.
func FuzzParseReport(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := laaffic.ParseReport(body)
		if err != nil {
			var se *signedapi.StatusError
			if !errors.As(err, &se) && !errors.Is(err, signedapi.ErrMalformedResponse) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if signedapi.CheckStatus(body) != nil {
			t.Fatal("report parsed from a failure answer")
		}
		if r.Success < 0 || r.Fail < 0 || r.Sending < 0 || r.NoFound < 0 {
			t.Fatalf("negative count in %+v", r)
		}
		for _, it := range r.Items {
			if it.MsgID == "" {
				t.Fatalf("item without msgId: %+v", it)
			}
			if it.Status < laaffic.Unknown || it.Status > laaffic.Failed {
				t.Fatalf("status out of range: %+v", it)
			}
			if it.Status != laaffic.ParseDeliveryStatus(it.RawStatus) {
				t.Fatalf("status %v does not match raw %q", it.Status, it.RawStatus)
			}
			if !it.ReceiveTime.IsZero() && it.RawReceiveTime == "" {
				t.Fatalf("receive time %s without its raw text", it.ReceiveTime)
			}
		}
	})
}
