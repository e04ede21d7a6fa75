package testenv

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
)

// Stored returns the payloads the stream of subject (bus.StreamFor) holds
// on subject, in order: what a JetStream subscriber gets, duplicates
// already dropped by the stream's dedup window. For registrations that is
// what the workers have not acked yet: the work-queue stream drops a
// message once acked.
//
// It reads with message gets (next message on subject from a sequence),
// not a consumer: a work-queue stream allows one consumer per subject, the
// workers' own.
func Stored(t testing.TB, js jetstream.JetStream, subject string) [][]byte {
	t.Helper()
	msgs := StoredMsgs(t, js, subject)
	if len(msgs) == 0 {
		return nil
	}
	out := make([][]byte, len(msgs))
	for i, m := range msgs {
		out[i] = m.Data
	}
	return out
}

// StoredMsgs is Stored with the messages' headers and sequences.
func StoredMsgs(t testing.TB, js jetstream.JetStream, subject string) []*jetstream.RawStreamMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, bus.StreamFor(subject))
	if err != nil {
		t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := uint64(1); ; {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: get from seq %d: %v", subject, seq, err)
		}
		out = append(out, m)
		seq = m.Sequence + 1
	}
}
