package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The streams relay creates. Registrations are work to do and leave the
// bus once acked; events are news for subscribers and age out.
const (
	// RegistrationsStream takes relay.registrations.> as a work queue: a
	// message is removed once the worker acks it, which it does only when
	// PostgreSQL holds the event's fate.
	RegistrationsStream = "RELAY_REGISTRATIONS"
	// EventsStream takes outcome, report, balance and alert events, kept
	// for subscribers RELAY_EVENTS_MAX_AGE and at most EventsMaxBytes.
	EventsStream = "RELAY_EVENTS"
	// LegacyStream is the single stream of relay before the split; Ensure
	// migrates it (see migrateLegacy).
	LegacyStream = "RELAY"
)

// EventSubjects are the subjects of EventsStream.
var EventSubjects = []string{"relay.confirmations.>", "relay.reports.>", "relay.balances.>", "relay.alerts.>"}

// Stream defaults.
const (
	// DefaultEventsMaxBytes bounds EventsStream (per replica) when
	// StreamOptions.EventsMaxBytes is 0: 1 GiB, the oldest events go first.
	DefaultEventsMaxBytes = 1 << 30
	// DefaultEventsMaxAge is RELAY_EVENTS_MAX_AGE's default.
	DefaultEventsMaxAge = 72 * time.Hour
)

// ErrReplicas means the server did not take the replica count asked for.
var ErrReplicas = errors.New("replica count not applied")

// StreamFor names the stream that stores subject.
func StreamFor(subject string) string {
	if strings.HasPrefix(subject, RegistrationsPrefix) {
		return RegistrationsStream
	}
	return EventsStream
}

// StreamOptions configure EnsureStreams.
type StreamOptions struct {
	// Duplicates is the publish dedup window of both streams (capped at
	// EventsMaxAge for the events stream, as JetStream requires).
	Duplicates time.Duration
	// MaxAge bounds the age of a registration message; 0 keeps it until
	// it is acked (RELAY_STREAM_MAX_AGE).
	MaxAge time.Duration
	// Replicas of both streams; 0 means 1 (RELAY_STREAM_REPLICAS).
	Replicas int
	// EventsMaxAge is how long events stay; 0 means DefaultEventsMaxAge
	// (RELAY_EVENTS_MAX_AGE).
	EventsMaxAge time.Duration
	// EventsMaxBytes bounds the events stream; 0 means
	// DefaultEventsMaxBytes.
	EventsMaxBytes int64
}

// StreamConfigs returns the configurations EnsureStreams applies, for
// the registrations and the events stream.
func StreamConfigs(o StreamOptions) (registrations, events jetstream.StreamConfig) {
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.EventsMaxAge <= 0 {
		o.EventsMaxAge = DefaultEventsMaxAge
	}
	if o.EventsMaxBytes <= 0 {
		o.EventsMaxBytes = DefaultEventsMaxBytes
	}
	registrations = jetstream.StreamConfig{
		Name:        RegistrationsStream,
		Description: "relay: accepted registrations, removed once the worker acks them",
		Subjects:    []string{RegistrationsAll},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  o.Duplicates,
		MaxAge:      o.MaxAge,
		MaxBytes:    -1,
		Replicas:    o.Replicas,
	}
	events = jetstream.StreamConfig{
		Name:        EventsStream,
		Description: "relay: confirmations, reports, balances and alerts for subscribers",
		Subjects:    EventSubjects,
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		Duplicates:  min(o.Duplicates, o.EventsMaxAge),
		MaxAge:      o.EventsMaxAge,
		MaxBytes:    o.EventsMaxBytes,
		Replicas:    o.Replicas,
	}
	return registrations, events
}

// EnsureStreams migrates the old single-stream layout if it finds it, then
// creates both streams or updates them to the wanted configuration, so a
// changed dedup window, age or replica count takes effect at restart.
func (b *Bus) EnsureStreams(ctx context.Context, o StreamOptions) error {
	reg, ev := StreamConfigs(o)
	// A standalone nats-server 2.9 takes any replica count and keeps one
	// copy: refuse rather than run unreplicated unknowingly.
	if reg.Replicas > 1 && b.Conn.ConnectedClusterName() == "" {
		return fmt.Errorf("bus: %w: RELAY_STREAM_REPLICAS=%d needs a NATS cluster of at least that many nodes; %s is not clustered",
			ErrReplicas, reg.Replicas, b.Conn.ConnectedUrlRedacted())
	}
	legacy, err := b.JS.Stream(ctx, LegacyStream)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
	case err != nil:
		return fmt.Errorf("bus: looking for the old stream %s: %w", LegacyStream, err)
	default:
		return b.migrateLegacy(ctx, legacy, reg, ev)
	}
	return b.createOrUpdate(ctx, reg, ev)
}

func (b *Bus) createOrUpdate(ctx context.Context, cfgs ...jetstream.StreamConfig) error {
	for _, cfg := range cfgs {
		if _, err := b.JS.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("bus: stream %s (replicas %d): %w", cfg.Name, cfg.Replicas, err)
		}
	}
	return nil
}

// ConsumerOptions configure EnsureConsumer.
type ConsumerOptions struct {
	// Vendor is the vendor whose registrations the consumer delivers.
	Vendor        string
	AckWait       time.Duration
	MaxAckPending int
}

// EnsureConsumer creates or updates the workers' durable pull consumer of
// one vendor's registrations (VendorConsumer). The vendors' consumers are
// the stream's only ones (a work queue allows one per subject): tests and
// tools read registrations with message gets, never with a consumer.
// MaxDeliver is unlimited: the retry budget is counted in PostgreSQL,
// where a crash cannot lose it, not in redeliveries.
//
// The consumer of every vendor at once (ConsumerName) overlaps them, which
// a work queue refuses, so it is deleted first. Its messages stay in the
// stream (a work queue removes a message only when it is acked) and the
// vendors' consumers deliver them; a replica still running the earlier
// layout then fails to pull and must be upgraded too.
func (b *Bus) EnsureConsumer(ctx context.Context, o ConsumerOptions) (jetstream.Consumer, error) {
	if o.Vendor == "" {
		return nil, errors.New("bus: a workers' consumer needs its vendor")
	}
	switch err := b.JS.DeleteConsumer(ctx, RegistrationsStream, ConsumerName); {
	case err == nil:
		b.log.Warn("deleted the consumer of every vendor at once; each vendor has its own now",
			"consumer", ConsumerName, "stream", RegistrationsStream)
	case !errors.Is(err, jetstream.ErrConsumerNotFound):
		return nil, fmt.Errorf("bus: consumer %s: %w", ConsumerName, err)
	}
	name := VendorConsumer(o.Vendor)
	c, err := b.JS.CreateOrUpdateConsumer(ctx, RegistrationsStream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "relay workers: confirm " + o.Vendor + " registrations with the vendor",
		FilterSubject: RegistrationSubject(o.Vendor),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: o.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: consumer %s: %w", name, err)
	}
	return c, nil
}
