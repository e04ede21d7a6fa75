package asyncapitest_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"relay/internal/bus"
	"relay/internal/bus/asyncapitest"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	hdr := nats.Header{"Nats-Msg-Id": {"x"}}
	confirmation := `{"id":"57cce200-3726-5354-9709-aa9f7de7d361","vendor":"liasmart","message_id":"4134","outcome":"confirmed",` +
		`"vendor_code":1000,"vendor_status":"1000","attempts":1,"at":"2026-11-29T18:13:08.66Z"}`
	cases := []struct {
		name    string
		subject string
		header  nats.Header
		payload string
		ok      bool
	}{
		{"confirmation", bus.ConfirmationSubject("liasmart", "confirmed"), hdr, confirmation, true},
		{"unknown outcome", bus.ConfirmationSubject("liasmart", "maybe"), hdr, confirmation, false},
		{"no Nats-Msg-Id", bus.ConfirmationSubject("liasmart", "confirmed"), nil, confirmation, false},
		{"bad traceparent", bus.ConfirmationSubject("liasmart", "confirmed"),
			nats.Header{"Nats-Msg-Id": {"x"}, "traceparent": {"nope"}}, confirmation, false},
		{"vendor_code missing", bus.ConfirmationSubject("liasmart", "confirmed"), hdr,
			`{"id":"57cce200-3726-5354-9709-aa9f7de7d361","vendor":"liasmart","message_id":"4134","outcome":"confirmed","vendor_status":null,"attempts":1,"at":"2026-11-29T18:13:08.66Z"}`, false},
		{"unknown field", bus.AlertSubject("liasmart"), hdr,
			`{"vendor":"liasmart","kind":"credentials_rejected","message":"m","at":"2026-11-29T18:13:08Z","extra":1}`, false},
		{"alert", bus.AlertSubject("liasmart"), hdr,
			`{"vendor":"liasmart","kind":"credentials_rejected","message":"m","code":1004,"at":"2026-11-29T18:13:08Z"}`, true},
		{"balances", bus.BalanceSubject("jpush"), hdr,
			`{"vendor":"jpush","readings":[{"kind":"dev_voice","value":null,"checked_at":"2026-11-29T18:13:08Z"},{"kind":"balance","value":"12.50","checked_at":"2026-11-29T18:13:08Z"}]}`, true},
		{"bad date", bus.RegistrationSubject("liasmart"), hdr,
			`{"id":"57cce200-3726-5354-9709-aa9f7de7d361","vendor":"liasmart","message_id":"1","received_at":"yesterday"}`, false},
		{"not JSON", bus.ReportSubject("laaffic"), hdr, `{`, false},
	}
	for _, tc := range cases {
		err := asyncapitest.Check(tc.subject, tc.header, []byte(tc.payload))
		if (err == nil) != tc.ok {
			t.Errorf("%s: Check = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// A subject the document does not name fails, so a new subject cannot be
// published without describing it.
func TestSubjectMissingFromTheDocument(t *testing.T) {
	t.Parallel()
	for _, subject := range []string{"relay.receipts.liasmart", "relay.alerts", "relay.confirmations.liasmart", "relay.alerts.liasmart.extra"} {
		err := asyncapitest.Check(subject, nats.Header{"Nats-Msg-Id": {"x"}}, []byte(`{}`))
		if !errors.Is(err, asyncapitest.ErrNoChannel) {
			t.Errorf("Check(%s) = %v, want ErrNoChannel", subject, err)
		}
	}
}
