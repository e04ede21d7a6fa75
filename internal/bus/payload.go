package bus

import (
	"encoding/json"
	"time"
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
	ID          string     `json:"id"`
	Vendor      string     `json:"vendor"`
	MessageID   string     `json:"message_id"`
	Outcome     string     `json:"outcome"`
	VendorCode  *int       `json:"vendor_code"`
	Attempts    int        `json:"attempts"`
	LastError   *string    `json:"last_error,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	At          time.Time  `json:"at"`
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
