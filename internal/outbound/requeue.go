package outbound

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
)

// Lister pages through events.
type Lister interface {
	ListEvents(ctx context.Context, f store.Filter) ([]store.Event, error)
}

// Requeue publishes every event matching f to its registration subject
// again, under the message id "<id>:<tag>" so that it passes JetStream's
// dedup window (tag distinguishes one requeue from another) while a
// repeated requeue with the same tag collapses. It pages through the
// store, never holding more than one page, and returns how many it sent.
func Requeue(ctx context.Context, st Lister, js jetstream.JetStream, f store.Filter, tag string) (int, error) {
	f.Limit = 500
	n := 0
	for {
		page, err := st.ListEvents(ctx, f)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		futures := make([]jetstream.PubAckFuture, 0, len(page))
		for _, e := range page {
			data, _ := json.Marshal(bus.Registration{
				ID: e.ID.String(), Vendor: e.Vendor, MessageID: e.MessageID,
				OccurredAt: e.OccurredAt, Metadata: e.Metadata, APIKey: deref(e.APIKey),
				ReceivedAt: time.Now().UTC(),
			})
			fut, err := js.PublishAsync(bus.RegistrationSubject(e.Vendor), data, jetstream.WithMsgID(e.ID.String()+":"+tag))
			if err != nil {
				return n, fmt.Errorf("outbound: requeue %s: %w", e.ID, err)
			}
			futures = append(futures, fut)
		}
		for i, fut := range futures {
			select {
			case <-fut.Ok():
				n++
			case err := <-fut.Err():
				return n, fmt.Errorf("outbound: requeue %s: %w", page[i].ID, err)
			case <-ctx.Done():
				return n, ctx.Err()
			}
		}
		last := page[len(page)-1]
		f.After = &store.Cursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Resumer is what ResumeVendor needs of the store.
type Resumer interface {
	Lister
	ResumeVendor(ctx context.Context, vendor string) (bool, error)
}

// ResumeVendor lifts a credentials pause and sends the vendor's paused
// events to the workers at once, instead of leaving them to their next
// scheduled look. Only the call that actually lifted the pause requeues, so
// replicas racing to resume do not send the events twice.
func ResumeVendor(ctx context.Context, st Resumer, js jetstream.JetStream, vendor string) (resumed bool, requeued int, err error) {
	resumed, err = st.ResumeVendor(ctx, vendor)
	if err != nil || !resumed {
		return resumed, 0, err
	}
	requeued, err = Requeue(ctx, st, js, store.Filter{States: []store.State{store.StatePaused}, Vendor: vendor},
		fmt.Sprintf("resume:%d", time.Now().UnixNano()))
	return true, requeued, err
}
