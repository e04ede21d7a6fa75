package bus

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Registration is the payload of relay.registrations.<vendor>: an event
// accepted by ingest (or re-enqueued by a replay).
type Registration struct {
	ID         string          `json:"id"`
	Vendor     string          `json:"vendor"`
	MessageID  string          `json:"message_id"`
	OccurredAt *time.Time      `json:"occurred_at,omitempty"`
	Metadata   json.RawMessage `json:"metadata,omitempty"`
	// APIKey is the name (never the secret) of the key that posted it.
	APIKey     string    `json:"api_key,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// Confirmation is the payload of relay.confirmations.<vendor>.<outcome>.
type Confirmation struct {
	ID        string `json:"id"`
	Vendor    string `json:"vendor"`
	MessageID string `json:"message_id"`
	Outcome   string `json:"outcome"`
	// VendorCode is the last code the vendor answered that is a number.
	VendorCode *int `json:"vendor_code"`
	// VendorStatus is the last answer's code or status as the vendor wrote
	// it ("1000", "ThrottlingException", "HTTP 503"); null when none came.
	VendorStatus *string    `json:"vendor_status"`
	Attempts     int        `json:"attempts"`
	LastError    *string    `json:"last_error,omitempty"`
	ConfirmedAt  *time.Time `json:"confirmed_at,omitempty"`
	At           time.Time  `json:"at"`
}

// Alert is the payload of relay.alerts.<vendor>.
type Alert struct {
	Vendor string `json:"vendor"`
	// Kind is "credentials_rejected", "credentials_accepted", "low_balance", ...
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
	Code    *int      `json:"code,omitempty"`
	At      time.Time `json:"at"`
}

// AlertMessage is an alert ready for the outbox: its subject, a fresh
// Nats-Msg-Id and its payload.
func AlertMessage(a Alert) (subject, msgID string, payload []byte) {
	payload, _ = json.Marshal(a)
	return AlertSubject(a.Vendor), "alert:" + uuid.NewString(), payload
}

// LowBalanceAlert is the payload of relay.alerts.<vendor> with kind
// "low_balance": the Alert fields and the reading that crossed below the
// threshold.
type LowBalanceAlert struct {
	Alert
	// BalanceKind is the reading's kind ("balance", "dev_voice", ...).
	BalanceKind string `json:"balance_kind"`
	// Value and Threshold are exact decimal strings.
	Value     string    `json:"value"`
	Threshold string    `json:"threshold"`
	CheckedAt time.Time `json:"checked_at"`
}

// Balances is the payload of relay.balances.<vendor>: one poll's readings.
type Balances struct {
	Vendor   string           `json:"vendor"`
	Readings []BalanceReading `json:"readings"`
}

// BalanceReading is one balance figure. Value is an exact decimal string,
// or null where the vendor says "not allocated" (JPush).
type BalanceReading struct {
	Kind      string    `json:"kind"`
	Value     *string   `json:"value"`
	CheckedAt time.Time `json:"checked_at"`
}

// Report is the payload of relay.reports.<vendor>: a tracked message
// reached a final status (delivered, failed or expired). Nats-Msg-Id is
// "<id>:report".
type Report struct {
	ID        string `json:"id"`
	Vendor    string `json:"vendor"`
	MessageID string `json:"message_id"`
	AppID     string `json:"app_id"`
	// Status is "delivered", "failed" or "expired".
	Status string `json:"status"`
	// ReceiveTime is the vendor's receiveTime, null when it sent none or
	// one that did not parse (RawReceiveTime then holds the text).
	ReceiveTime    *time.Time `json:"receive_time"`
	RawReceiveTime string     `json:"raw_receive_time,omitempty"`
	// Number is the phone number the vendor reported, when it did.
	Number string `json:"number,omitempty"`
	// Polls counts the getReport calls made for the message.
	Polls int `json:"polls"`
	// PolledAt is when the vendor last answered about the message (null
	// for a message that expired without an answer).
	PolledAt *time.Time `json:"polled_at"`
}
