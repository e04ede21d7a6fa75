package asyncapitest_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

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

// Every payload type of package bus, with every field set, conforms: a
// field added to a type and not to the document fails here.
func TestBusPayloadsConform(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 18, 13, 8, 0, time.UTC)
	code, status, lastErr, value := 1000, "1000", "HTTP 503", "12.50"
	id := "57cce200-3726-5354-9709-aa9f7de7d361"
	hdr := nats.Header{"Nats-Msg-Id": {id}, "traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	alert := bus.Alert{Vendor: "liasmart", Kind: "credentials_rejected", Message: "vendor code 1004", Code: &code, At: at}
	subject, msgID, alertData := bus.AlertMessage(alert)
	cases := []struct {
		subject string
		header  nats.Header
		payload any
	}{
		{bus.RegistrationSubject("liasmart"), hdr, bus.Registration{ID: id, Vendor: "liasmart", MessageID: "4134", OccurredAt: &at,
			Metadata: json.RawMessage(`{"app":"signup"}`), APIKey: "app1", ReceivedAt: at}},
		{bus.ConfirmationSubject("liasmart", "failed"), hdr, bus.Confirmation{ID: id, Vendor: "liasmart", MessageID: "4134", Outcome: "failed",
			VendorCode: &code, VendorStatus: &status, Attempts: 3, LastError: &lastErr, ConfirmedAt: &at, At: at}},
		{bus.ConfirmationSubject("liasmart", "confirmed"), hdr, bus.Confirmation{ID: id, Vendor: "liasmart", MessageID: "4134", Outcome: "confirmed", At: at}},
		{bus.ReportSubject("laaffic"), hdr, bus.Report{ID: id, Vendor: "laaffic", MessageID: "m1", AppID: "app", Status: "delivered",
			ReceiveTime: &at, RawReceiveTime: "2026-11-29 18:13:08", Number: "8613800000000", Polls: 2, PolledAt: &at}},
		{bus.ReportSubject("laaffic"), hdr, bus.Report{ID: id, Vendor: "laaffic", MessageID: "m1", Status: "expired"}},
		{bus.BalanceSubject("jpush"), nil, bus.Balances{Vendor: "jpush", Readings: []bus.BalanceReading{
			{Kind: "dev_voice", CheckedAt: at}, {Kind: "balance", Value: &value, CheckedAt: at}}}},
		{bus.AlertSubject("liasmart"), hdr, bus.LowBalanceAlert{Alert: alert, BalanceKind: "balance", Value: "1.5", Threshold: "10", CheckedAt: at}},
		{subject, nats.Header{"Nats-Msg-Id": {msgID}}, json.RawMessage(alertData)},
	}
	for _, tc := range cases {
		data, err := json.Marshal(tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if err := asyncapitest.Check(tc.subject, tc.header, data); err != nil {
			t.Errorf("%T: %v\n%s", tc.payload, err, data)
		}
	}
}
