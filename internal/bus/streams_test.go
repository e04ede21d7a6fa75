package bus_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/testenv"
)

// servers are the NATS servers relay must work with: the embedded current
// one and the machine's nats-server binary (2.9).
var servers = []struct {
	name string
	url  func(t *testing.T) string
}{
	{"embedded", func(t *testing.T) string { return testenv.NATS(t).ClientURL() }},
	{"binary", func(t *testing.T) string { return testenv.NATSCluster(t, 1).Nodes[0].URL }},
}

// eachServer runs f in a parallel subtest per server.
func eachServer(t *testing.T, f func(t *testing.T, b *bus.Bus)) {
	t.Parallel()
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			f(t, open(t, srv.url(t)))
		})
	}
}

func open(t *testing.T, url string) *bus.Bus {
	t.Helper()
	b, err := bus.Open(ctx(t), bus.Options{URL: url, Name: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

func info(t *testing.T, js jetstream.JetStream, name string) *jetstream.StreamInfo {
	t.Helper()
	s, err := js.Stream(ctx(t), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	i, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// checkLayout compares what the server holds with what matters of the
// wanted configuration.
func checkLayout(t *testing.T, js jetstream.JetStream, o bus.StreamOptions) {
	t.Helper()
	wantReg, wantEv := bus.StreamConfigs(o)
	for _, want := range []jetstream.StreamConfig{wantReg, wantEv} {
		got := info(t, js, want.Name).Config
		if !slices.Equal(got.Subjects, want.Subjects) || got.Retention != want.Retention ||
			got.MaxAge != want.MaxAge || got.Duplicates != want.Duplicates ||
			got.Replicas != want.Replicas || got.MaxBytes != want.MaxBytes ||
			got.Storage != jetstream.FileStorage {
			t.Errorf("stream %s:\n got subjects %v retention %v max_age %v duplicates %v replicas %d max_bytes %d storage %v\nwant subjects %v retention %v max_age %v duplicates %v replicas %d max_bytes %d storage file",
				want.Name, got.Subjects, got.Retention, got.MaxAge, got.Duplicates, got.Replicas, got.MaxBytes, got.Storage,
				want.Subjects, want.Retention, want.MaxAge, want.Duplicates, want.Replicas, want.MaxBytes)
		}
	}
}

func TestStreamsCreatedThenUpdated(t *testing.T) {
	eachServer(t, func(t *testing.T, b *bus.Bus) {
		first := bus.StreamOptions{Duplicates: 2 * time.Minute, MaxAge: time.Hour}
		if err := b.EnsureStreams(ctx(t), first); err != nil {
			t.Fatal(err)
		}
		checkLayout(t, b.JS, first)
		reg, ev := bus.StreamConfigs(first)
		if reg.Retention != jetstream.WorkQueuePolicy || ev.Retention != jetstream.LimitsPolicy ||
			reg.Replicas != 1 || ev.MaxAge != 72*time.Hour || ev.MaxBytes != bus.DefaultEventsMaxBytes {
			t.Errorf("defaults: registrations %+v, events %+v", reg, ev)
		}

		// A restart with other settings updates both streams in place.
		second := bus.StreamOptions{Duplicates: 5 * time.Minute, MaxAge: 2 * time.Hour, EventsMaxAge: 3 * time.Minute, EventsMaxBytes: 64 << 20}
		if err := b.EnsureStreams(ctx(t), second); err != nil {
			t.Fatal(err)
		}
		checkLayout(t, b.JS, second)
		if got := info(t, b.JS, bus.EventsStream).Config.Duplicates; got != 3*time.Minute {
			t.Errorf("events dedup window %v, want it capped at the events max age 3m", got)
		}

		// Replicas on a server that is not clustered are refused before
		// anything changes (nats-server 2.9 would store them and keep one).
		err := b.EnsureStreams(ctx(t), bus.StreamOptions{Duplicates: 2 * time.Minute, Replicas: 3})
		if !errors.Is(err, bus.ErrReplicas) {
			t.Fatalf("replicas 3 on one server: %v, want ErrReplicas", err)
		}
		checkLayout(t, b.JS, second)
	})
}

func publish(t *testing.T, js jetstream.JetStream, subject, id, data string) {
	t.Helper()
	if _, err := js.Publish(ctx(t), subject, []byte(data), jetstream.WithMsgID(id)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func datas(msgs []*jetstream.RawStreamMsg) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.Data))
	}
	return out
}

func TestRegistrationsLeaveTheBusOnceAcked(t *testing.T) {
	eachServer(t, func(t *testing.T, b *bus.Bus) {
		if err := b.EnsureStreams(ctx(t), bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		cons, err := b.EnsureConsumer(ctx(t), bus.ConsumerOptions{Vendor: "liasmart", AckWait: time.Minute, MaxAckPending: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b", "c"} {
			publish(t, b.JS, bus.RegistrationSubject("liasmart"), id, id)
		}
		publish(t, b.JS, bus.ConfirmationSubject("liasmart", "confirmed"), "a:confirmed", "a confirmed")

		batch, err := cons.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if string(m.Data()) == "b" {
				continue // still owed: stays on the bus
			}
			if err := m.DoubleAck(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Eventually(t, 10*time.Second, "acked registrations gone", func() bool {
			return info(t, b.JS, bus.RegistrationsStream).State.Msgs == 1
		})
		if got := datas(testenv.StoredMsgs(t, b.JS, bus.RegistrationsAll)); !slices.Equal(got, []string{"b"}) {
			t.Errorf("registrations on the bus %v, want [b]", got)
		}
		if got := testenv.Stored(t, b.JS, bus.ConfirmationSubject("liasmart", "confirmed")); len(got) != 1 {
			t.Errorf("confirmations %q, want one kept on %s", got, bus.EventsStream)
		}
		// The work queue has one consumer: a second one over registrations
		// is refused, which is why nothing else reads them with a consumer.
		_, err = b.JS.CreateOrUpdateConsumer(ctx(t), bus.RegistrationsStream, jetstream.ConsumerConfig{
			Durable: "other", FilterSubject: bus.RegistrationSubject("liasmart"), AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err == nil {
			t.Error("a second consumer on the registrations work queue was accepted")
		}
	})
}

// legacy makes the single-stream layout of relay before the split, with
// the workers' consumer having acked registration "a" only.
func legacy(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	s, err := js.CreateStream(ctx(t), jetstream.StreamConfig{
		Name: bus.LegacyStream, Subjects: []string{"relay.>"}, Storage: jetstream.FileStorage,
		Retention: jetstream.LimitsPolicy, Duplicates: 2 * time.Minute, MaxAge: 168 * time.Hour, Replicas: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	cons, err := s.CreateOrUpdateConsumer(ctx(t), jetstream.ConsumerConfig{
		Durable: bus.ConsumerName, FilterSubject: bus.RegistrationsAll, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, js, bus.RegistrationSubject("liasmart"), "a", "a")
	publish(t, js, bus.ConfirmationSubject("liasmart", "confirmed"), "x:confirmed", "x confirmed")
	publish(t, js, bus.RegistrationSubject("liasmart"), "b", "b")
	publish(t, js, bus.AlertSubject("liasmart"), "alert-1", "alert")
	publish(t, js, bus.RegistrationSubject("liasmart"), "c", "c")
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		if string(m.Data()) != "a" {
			t.Fatalf("first registration %q", m.Data())
		}
		if err := m.DoubleAck(ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
}

// checkMigrated: the old stream is gone, the un-acked registrations and
// the events are on the new streams once each, with their message ids.
func checkMigrated(t *testing.T, b *bus.Bus) {
	t.Helper()
	if _, err := b.JS.Stream(ctx(t), bus.LegacyStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("old stream %s still there (err %v)", bus.LegacyStream, err)
	}
	regs := testenv.StoredMsgs(t, b.JS, bus.RegistrationsAll)
	if got := datas(regs); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("registrations moved %v, want [b c] (a was acked)", got)
	}
	for _, m := range regs {
		if m.Header.Get(nats.MsgIdHdr) != string(m.Data) {
			t.Errorf("registration %s moved with Nats-Msg-Id %q", m.Data, m.Header.Get(nats.MsgIdHdr))
		}
	}
	if got := info(t, b.JS, bus.EventsStream).State.Msgs; got != 2 {
		t.Errorf("%s holds %d events, want the confirmation and the alert", bus.EventsStream, got)
	}
	checkLayout(t, b.JS, bus.StreamOptions{Duplicates: 2 * time.Minute})
	if _, err := b.EnsureConsumer(ctx(t), bus.ConsumerOptions{Vendor: "liasmart", AckWait: time.Minute, MaxAckPending: 10}); err != nil {
		t.Errorf("workers' consumer after the migration: %v", err)
	}
}

func TestOldSingleStreamIsMigrated(t *testing.T) {
	eachServer(t, func(t *testing.T, b *bus.Bus) {
		legacy(t, b.JS)
		if err := b.EnsureStreams(ctx(t), bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		checkMigrated(t, b)
		// The next start finds nothing to migrate and changes nothing.
		if err := b.EnsureStreams(ctx(t), bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		checkMigrated(t, b)
	})
}

func TestInterruptedMigrationIsFinished(t *testing.T) {
	eachServer(t, func(t *testing.T, b *bus.Bus) {
		legacy(t, b.JS)
		// A start that crashed after parking the old stream, creating the
		// new ones and copying "b".
		s, err := b.JS.Stream(ctx(t), bus.LegacyStream)
		if err != nil {
			t.Fatal(err)
		}
		parked := s.CachedInfo().Config
		parked.Subjects = []string{bus.LegacyStream + ".migrating"}
		if _, err := b.JS.UpdateStream(ctx(t), parked); err != nil {
			t.Fatal(err)
		}
		reg, ev := bus.StreamConfigs(bus.StreamOptions{Duplicates: 2 * time.Minute})
		for _, cfg := range []jetstream.StreamConfig{reg, ev} {
			if _, err := b.JS.CreateStream(ctx(t), cfg); err != nil {
				t.Fatal(err)
			}
		}
		publish(t, b.JS, bus.RegistrationSubject("liasmart"), "b", "b")

		if err := b.EnsureStreams(ctx(t), bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		checkMigrated(t, b)
	})
}

// TestStreamsReplicatedOnCluster creates the streams with three replicas
// on a 3-node cluster of the machine's nats-server, then kills the leader
// of the registrations stream: the message stays, a new leader takes
// over, and the restarted node catches up.
func TestStreamsReplicatedOnCluster(t *testing.T) {
	t.Parallel()
	c := testenv.NATSCluster(t, 3)
	b := open(t, c.URLs())
	o := bus.StreamOptions{Duplicates: 2 * time.Minute, Replicas: 3}
	if err := b.EnsureStreams(ctx(t), o); err != nil {
		t.Fatal(err)
	}
	checkLayout(t, b.JS, o)
	for _, name := range []string{bus.RegistrationsStream, bus.EventsStream} {
		i := info(t, b.JS, name)
		if i.Config.Replicas != 3 || i.Cluster == nil || len(i.Cluster.Replicas) != 2 {
			t.Errorf("%s: replicas %d, cluster %+v; want 3 (a leader and 2 peers)", name, i.Config.Replicas, i.Cluster)
		}
	}
	publish(t, b.JS, bus.RegistrationSubject("liasmart"), "a", "a")

	leader := c.StreamLeader(t, b.JS, bus.RegistrationsStream)
	c.Kill(leader)
	testenv.Eventually(t, 30*time.Second, "a new leader of "+bus.RegistrationsStream, func() bool {
		nl := c.StreamLeader(t, b.JS, bus.RegistrationsStream)
		return nl != leader
	})
	if got := datas(testenv.StoredMsgs(t, b.JS, bus.RegistrationsAll)); !slices.Equal(got, []string{"a"}) {
		t.Errorf("after the leader was killed the stream holds %v, want [a]", got)
	}
	c.Restart(t, leader)
	testenv.Eventually(t, 30*time.Second, leader.Name+" current again", func() bool {
		i := info(t, b.JS, bus.RegistrationsStream)
		for _, p := range i.Cluster.Replicas {
			if p.Name == leader.Name {
				return p.Current
			}
		}
		return false
	})
}

// TestVendorConsumersReplaceTheCatchAll: each vendor's consumer delivers
// its own registrations only; the consumer of every vendor at once, as
// relay had it, is deleted, and a registration it delivered but never
// acked is delivered again by its vendor's consumer.
func TestVendorConsumersReplaceTheCatchAll(t *testing.T) {
	eachServer(t, func(t *testing.T, b *bus.Bus) {
		if err := b.EnsureStreams(ctx(t), bus.StreamOptions{Duplicates: 2 * time.Minute}); err != nil {
			t.Fatal(err)
		}
		old, err := b.JS.CreateOrUpdateConsumer(ctx(t), bus.RegistrationsStream, jetstream.ConsumerConfig{
			Durable: bus.ConsumerName, FilterSubject: bus.RegistrationsAll, AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		publish(t, b.JS, bus.RegistrationSubject("liasmart"), "l1", "l1")
		publish(t, b.JS, bus.RegistrationSubject("twilio"), "t1", "t1")
		// The old consumer takes l1 and never acks it.
		if msgs, err := old.Fetch(1, jetstream.FetchMaxWait(5*time.Second)); err != nil {
			t.Fatal(err)
		} else {
			for range msgs.Messages() {
			}
		}
		got := map[string][]string{}
		for _, vendor := range []string{"liasmart", "twilio"} {
			cons, err := b.EnsureConsumer(ctx(t), bus.ConsumerOptions{Vendor: vendor, AckWait: time.Minute, MaxAckPending: 10})
			if err != nil {
				t.Fatalf("%s: %v", vendor, err)
			}
			msgs, err := cons.Fetch(10, jetstream.FetchMaxWait(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for m := range msgs.Messages() {
				got[vendor] = append(got[vendor], string(m.Data()))
			}
		}
		if !slices.Equal(got["liasmart"], []string{"l1"}) || !slices.Equal(got["twilio"], []string{"t1"}) {
			t.Errorf("delivered %v, want each vendor its own (l1 again, though the old consumer held it)", got)
		}
		if _, err := b.JS.Consumer(ctx(t), bus.RegistrationsStream, bus.ConsumerName); !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Errorf("the consumer of every vendor is still there (err %v)", err)
		}
		if _, err := b.EnsureConsumer(ctx(t), bus.ConsumerOptions{AckWait: time.Minute}); err == nil {
			t.Error("a consumer without a vendor was made")
		}
	})
}
