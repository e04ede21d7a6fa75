package outbound

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/store"
	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// timeRecorder answers transient to the first call of each message and
// confirmed to the next, and keeps the conversion times it was told.
type timeRecorder struct {
	mu    sync.Mutex
	times map[string][]time.Time
}

func (r *timeRecorder) Confirm(_ context.Context, c confirm.Conversion) (confirm.Answer, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.times[c.MessageID] = append(r.times[c.MessageID], c.At)
	if len(r.times[c.MessageID]) == 1 {
		return confirm.Answer{Outcome: confirm.Transient, Status: "HTTP 503", HTTPStatus: 503}, nil
	}
	return confirm.Answer{Outcome: confirm.Confirmed, Status: "1000", HTTPStatus: 200}, nil
}

func (r *timeRecorder) of(msg string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.times[msg]...)
}

// TestConversionTimeIsWhenItHappened: the vendor is told the event's
// occurred_at, or, without one, when relay accepted it, on the first call
// and on the retry alike, however late a worker takes the event.
func TestConversionTimeIsWhenItHappened(t *testing.T) {
	t.Parallel()
	bd := setup(t, liasmarttest.Options{}, 5*time.Second)
	rec := &timeRecorder{times: map[string][]time.Time{}}
	accepted := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Microsecond)
	occurred := accepted.Add(-time.Minute)
	for msg, occ := range map[string]*time.Time{"no-occurred-at": nil, "with-occurred-at": &occurred} {
		id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+msg))
		data, _ := json.Marshal(bus.Registration{ID: id.String(), Vendor: "liasmart", MessageID: msg, OccurredAt: occ, ReceivedAt: accepted})
		if _, err := bd.bus.JS.Publish(context.Background(), bus.RegistrationSubject("liasmart"), data, jetstream.WithMsgID(id.String())); err != nil {
			t.Fatal(err)
		}
	}
	bd.start(t, bd.config(func(c *Config) { c.Confirmers = map[string]Confirmer{"liasmart": rec} }), nil)
	for msg, want := range map[string]time.Time{"no-occurred-at": accepted, "with-occurred-at": occurred} {
		bd.waitState(t, uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+msg)), store.StateConfirmed)
		got := rec.of(msg)
		if len(got) != 2 {
			t.Fatalf("%s: %d calls, want a retry and a confirmation", msg, len(got))
		}
		for i, at := range got {
			if !at.Equal(want) {
				t.Errorf("%s call %d: conversion time %s, want %s", msg, i+1, at, want)
			}
		}
	}
}
