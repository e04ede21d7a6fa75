package monitor

import (
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
)

// JetStream is the part of JetStream the balance monitor publishes
// readings with.
type JetStream interface {
	Publish(ctx context.Context, subject string, data []byte, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Outbox is the process's outbox publisher (outbox.Publisher): after a
// tick that may have written alerts or finalised reports, the monitor
// flushes it, so they go out now rather than at its next tick.
type Outbox interface {
	Flush(ctx context.Context) (int, error)
}

// enqueueAlert writes an alert to the outbox in db's transaction.
func enqueueAlert(ctx context.Context, st *store.Store, db store.DBTX, vendor string, payload any) error {
	data, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return st.EnqueueOutbox(ctx, db, store.OutboxMessage{
		Subject: bus.AlertSubject(vendor), MsgID: "alert:" + uuid.NewString(), Payload: data,
	})
}

// credentialsFlag is the monitor_flags name of a rejected-credentials
// state per API ("balance", "reports"), so that two APIs of one vendor
// answering differently do not make the alert flap.
func credentialsFlag(api string) string { return "credentials_rejected:" + api }

// noteCredentials records, in db's transaction, whether the vendor's api
// accepted the credentials: callErr of class ClassAccount sets the flag
// and raises credentials_rejected on the transition; callErr nil clears it
// and raises credentials_accepted on the transition; other errors say
// nothing about the credentials.
func noteCredentials(ctx context.Context, st *store.Store, db store.DBTX, vendor, api, class string, callErr error, at time.Time) error {
	var active bool
	var kind, msg string
	switch {
	case callErr == nil:
		kind, msg = "credentials_accepted", vendor+" "+api+" call accepted again"
	case class == ClassAccount:
		active, kind, msg = true, "credentials_rejected", callErr.Error()
	default:
		return nil
	}
	changed, err := st.SetFlag(ctx, db, vendor, credentialsFlag(api), active, msg, at)
	if err != nil || !changed {
		return err
	}
	return enqueueAlert(ctx, st, db, vendor, bus.Alert{Vendor: vendor, Kind: kind, Message: msg, Code: vendorCode(callErr), At: at.UTC()})
}
