package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"relay/internal/bus"
	"relay/internal/inbound"
	"relay/internal/monitor"
	"relay/internal/outbox"
	"relay/internal/store"
	"relay/internal/vendors/signedapi/signedapitest"
)

// reportBundle is a bundle with a fake Laaffic, a tracker and pollers.
type reportBundle struct {
	*bundle
	fake    *signedapitest.Server
	tracker *monitor.Tracker
	cfg     monitor.ReportConfig
}

func setupReports(t *testing.T, ttl time.Duration) *reportBundle {
	t.Helper()
	b := setup(t)
	fake, client := laafficFake(t)
	return &reportBundle{
		bundle:  b,
		fake:    fake,
		tracker: &monitor.Tracker{Store: b.st, Vendors: map[string]string{"laaffic": "app1"}, TTL: ttl, Now: b.clock.Now},
		cfg: monitor.ReportConfig{
			Clients: map[string]monitor.ReportClient{"laaffic": client},
			Batch:   100, Logger: quiet(), Metrics: b.m, Now: b.clock.Now,
		},
	}
}

func (r *reportBundle) poller() *monitor.ReportPoller {
	cfg := r.cfg
	cfg.Outbox = outbox.NewPublisher(r.st, r.js, quiet())
	return monitor.NewReportPoller(cfg, r.st)
}

// track registers vendor message ids under appID.
func (r *reportBundle) track(t *testing.T, appID string, msgIDs ...string) []store.NewMessage {
	t.Helper()
	msgs := make([]store.NewMessage, len(msgIDs))
	for i, id := range msgIDs {
		msgs[i] = store.NewMessage{ID: inbound.TrackedMessageID("laaffic", id), Vendor: "laaffic", MessageID: id, AppID: appID}
	}
	fresh, err := r.tracker.TrackMessages(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range fresh {
		if !f {
			t.Fatalf("%s tracked twice", msgIDs[i])
		}
	}
	return msgs
}

func (r *reportBundle) message(t *testing.T, msgID string) store.Message {
	t.Helper()
	m, err := r.st.Message(context.Background(), inbound.TrackedMessageID("laaffic", msgID))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// reports decodes relay.reports.laaffic as stored in the stream.
func (r *reportBundle) reports(t *testing.T) []bus.Report {
	t.Helper()
	var out []bus.Report
	for _, raw := range r.stored(t, bus.ReportSubject("laaffic")) {
		var rep bus.Report
		if err := json.Unmarshal(raw, &rep); err != nil {
			t.Fatalf("report %s: %v", raw, err)
		}
		out = append(out, rep)
	}
	return out
}

// askedIDs counts the msgIds of every getReport call so far.
func (r *reportBundle) askedIDs(t *testing.T) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, req := range r.fake.Requests() {
		_, ids, _ := strings.Cut(req.RawQuery, "&msgIds=")
		for _, id := range strings.Split(ids, ",") {
			out[id]++
		}
	}
	return out
}

const receiveTime = "2021-02-12T09:30:03+08:00"

// Two pollers working the same database at once: every message is asked
// about once per due time (claims are disjoint) and finalised and
// published once; relay.reports.laaffic holds exactly one event per
// message.
func TestConcurrentPollersPublishEachReportOnce(t *testing.T) {
	t.Parallel()
	r := setupReports(t, 24*time.Hour)
	r.cfg.Batch = 25
	r.cfg.Concurrency = 2
	const n = 300
	var ids []string
	for i := range n {
		id := fmt.Sprintf("21080210540110%05d", i)
		ids = append(ids, id)
		status := []string{"0", "1", "-1"}[i%3]
		r.fake.SetReport(id, signedapitest.ReportItem{Number: fmt.Sprintf("9185632%04d", i), ReceiveTime: receiveTime, Status: status})
	}
	r.track(t, "app1", ids...)
	pollers := []*monitor.ReportPoller{r.poller(), r.poller()}
	ctx := context.Background()
	race := func() {
		var wg sync.WaitGroup
		for _, p := range pollers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 3 {
					if err := p.PollOnce(ctx); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
	}
	race()
	asked := r.askedIDs(t)
	if len(asked) != n {
		t.Fatalf("%d ids asked about, want %d", len(asked), n)
	}
	for id, k := range asked {
		if k != 1 {
			t.Errorf("%s asked %d times in one due time, want once", id, k)
		}
	}
	for _, req := range r.fake.Requests() {
		if k := strings.Count(req.RawQuery, ",") + 1; k > 25 {
			t.Errorf("getReport with %d ids, RELAY_REPORT_BATCH is 25", k)
		}
	}
	// The "sending" third is delivered later; a minute on it is due again.
	for i, id := range ids {
		if i%3 == 2 {
			r.fake.SetReport(id, signedapitest.ReportItem{Number: "1", ReceiveTime: receiveTime, Status: "0"})
		}
	}
	r.clock.Advance(time.Minute)
	race()

	reports := r.reports(t)
	if len(reports) != n {
		t.Fatalf("%d events on relay.reports.laaffic, want %d", len(reports), n)
	}
	seen := map[string]bool{}
	for _, rep := range reports {
		if seen[rep.ID] {
			t.Errorf("report %s published twice", rep.ID)
		}
		seen[rep.ID] = true
		if rep.Status != "delivered" && rep.Status != "failed" {
			t.Errorf("report %+v", rep)
		}
	}
	m := r.message(t, ids[1])
	if m.Status != store.MessageFailed || m.Polls != 1 || m.PublishedAt == nil || m.NextPollAt != nil {
		t.Errorf("failed message %+v", m)
	}
	if m := r.message(t, ids[2]); m.Status != store.MessageDelivered || m.Polls != 2 {
		t.Errorf("late delivered message %+v", m)
	}
	got := series(t, r.m, "relay_delivery_reports_total")
	if got["laaffic/delivered"] != 200 || got["laaffic/failed"] != 100 {
		t.Errorf("relay_delivery_reports_total %v", got)
	}
}

// A message not final is asked again after 1m, 2m, 5m, 10m, 20m, 30m, and
// then every 30m, never earlier.
func TestReportBackoffSchedule(t *testing.T) {
	t.Parallel()
	r := setupReports(t, 24*time.Hour)
	r.fake.SetReport("m1", signedapitest.ReportItem{Number: "1", Status: "-1"})
	r.track(t, "app1", "m1")
	p := r.poller()
	ctx := context.Background()
	poll := func() int {
		t.Helper()
		if err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		return len(r.fake.Requests())
	}
	if got := poll(); got != 1 {
		t.Fatalf("first poll at registration: %d calls", got)
	}
	calls := 1
	for i, wait := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
		20 * time.Minute, 30 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		m := r.message(t, "m1")
		if want := r.clock.Now().Add(wait); m.NextPollAt == nil || !m.NextPollAt.Equal(want) || m.Polls != i+1 {
			t.Fatalf("after poll %d: next %v polls %d, want next %s", i+1, m.NextPollAt, m.Polls, want)
		}
		r.clock.Advance(wait - time.Second)
		if got := poll(); got != calls {
			t.Fatalf("polled %s early (wait %s)", time.Second, wait)
		}
		r.clock.Advance(time.Second)
		calls++
		if got := poll(); got != calls {
			t.Fatalf("not polled after %s", wait)
		}
	}
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 30 * time.Minute, 30 * time.Minute} {
		if got := monitor.Backoff(monitor.DefaultSchedule, i+1); got != want {
			t.Errorf("Backoff(%d) = %s, want %s", i+1, got, want)
		}
	}
	if reps := r.reports(t); len(reps) != 0 {
		t.Errorf("reports for a message still sending: %v", reps)
	}
}

// A message without a final report expires RELAY_REPORT_TTL after its
// registration: it is not asked about any more, and one expired event is
// published. Its last poll time is clamped to the expiry.
func TestReportExpiresAndStopsPolling(t *testing.T) {
	t.Parallel()
	r := setupReports(t, 90*time.Second)
	r.fake.SetReport("m1", signedapitest.ReportItem{Number: "1", Status: "-1"})
	r.track(t, "app1", "m1", "m2") // m2 is never known to the vendor
	p := r.poller()
	ctx := context.Background()
	created := r.clock.Now()
	for range 2 { // at registration and 1m later
		if err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(time.Minute)
	}
	// The next poll would be 2m later, past the TTL: it is due at expiry.
	if m := r.message(t, "m1"); m.NextPollAt == nil || !m.NextPollAt.Equal(created.Add(90*time.Second)) {
		t.Fatalf("next poll %v, want the expiry %s", m.NextPollAt, created.Add(90*time.Second))
	}
	calls := len(r.fake.Requests())
	for range 3 {
		if err := p.PollOnce(ctx); err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(time.Hour)
	}
	if got := len(r.fake.Requests()); got != calls || calls != 2 {
		t.Errorf("%d calls in all, %d after expiry; want 2 and none", got, got-calls)
	}
	for _, id := range []string{"m1", "m2"} {
		if m := r.message(t, id); m.Status != store.MessageExpired || m.NextPollAt != nil || m.Polls != 2 {
			t.Errorf("%s: %+v, want expired after 2 polls", id, m)
		}
	}
	reps := r.reports(t)
	if len(reps) != 2 {
		t.Fatalf("%d reports, want one expired event per message", len(reps))
	}
	for _, rep := range reps {
		if rep.Status != "expired" || rep.ReceiveTime != nil || rep.PolledAt == nil || rep.Polls != 2 || rep.AppID != "app1" {
			t.Errorf("expired report %+v", rep)
		}
	}
}

// An item whose receiveTime does not parse is delivered with its raw text
// and does not hold back its batch; a permanent failure of a whole call
// (-14) is bisected so the good ids still get through, and a chunk whose
// every id fails (a wrong appId) costs two more calls, not one per id.
func TestReportOddItemsAndBisection(t *testing.T) {
	t.Parallel()
	r := setupReports(t, 24*time.Hour)
	r.fake.SetReport("m1", signedapitest.ReportItem{Number: "1", ReceiveTime: "2021-02-12 09:30:03", Status: "0"})
	r.fake.SetReport("m2", signedapitest.ReportItem{Number: "2", ReceiveTime: receiveTime, Status: "0"})
	r.fake.SetReport("m3", signedapitest.ReportItem{Number: "3", ReceiveTime: receiveTime, Status: "1"})
	r.fake.SetReport("m4", signedapitest.ReportItem{Number: "4", Status: "7"})
	r.track(t, "app1", "m1", "m2", "m3", "m4")
	r.track(t, "wrong-app", "w1", "w2", "w3", "w4", "w5", "w6")
	r.cfg.Concurrency = 1 // the fault below must hit the app1 call
	r.fake.Enqueue(signedapitest.Fault{Status: -14})
	if err := r.poller().PollOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// app1: 1 failed call + 2 halves; wrong-app: 1 call + 2 halves.
	if n := len(r.fake.Requests()); n != 6 {
		t.Errorf("%d getReport calls, want 6", n)
	}
	want := map[string]store.MessageStatus{"m1": store.MessageDelivered, "m2": store.MessageDelivered,
		"m3": store.MessageFailed, "m4": store.MessageUnknown, "w1": store.MessageSending, "w6": store.MessageSending}
	for id, status := range want {
		if m := r.message(t, id); m.Status != status || m.Polls != 1 {
			t.Errorf("%s: status %s polls %d, want %s after one poll", id, m.Status, m.Polls, status)
		}
	}
	byMsg := map[string]bus.Report{}
	for _, rep := range r.reports(t) {
		byMsg[rep.MessageID] = rep
	}
	if len(byMsg) != 3 {
		t.Fatalf("reports %v, want m1, m2, m3", byMsg)
	}
	if rep := byMsg["m1"]; rep.ReceiveTime != nil || rep.RawReceiveTime != "2021-02-12 09:30:03" || rep.Number != "1" {
		t.Errorf("m1 report %+v, want the raw receive time kept", rep)
	}
	if rep := byMsg["m2"]; rep.ReceiveTime == nil || !rep.ReceiveTime.Equal(time.Date(2021, 2, 12, 1, 30, 3, 0, time.UTC)) || rep.RawReceiveTime != "" {
		t.Errorf("m2 report %+v", rep)
	}
	if rep := byMsg["m3"]; rep.Status != "failed" || rep.PolledAt == nil || !rep.PolledAt.Equal(r.clock.Now()) {
		t.Errorf("m3 report %+v", rep)
	}
	if errs := series(t, r.m, "relay_vendor_poll_errors_total"); errs["laaffic/permanent"] != 4 {
		t.Errorf("poll errors %v, want 4 permanent (-14 once, wrong appId thrice)", errs)
	}
}

// The final status is a gate: of two results racing for one message (a
// poller whose lease ran out and its successor), one finalises it. A
// publisher that dies after publishing but before stamping published_at
// leaves the report to the next, whose publish JetStream drops as a
// duplicate of the same Nats-Msg-Id: one event in the stream.
func TestReportGateAndOutboxRepublish(t *testing.T) {
	t.Parallel()
	r := setupReports(t, 24*time.Hour)
	msgs := r.track(t, "app1", "m1")
	ctx := context.Background()
	var wg sync.WaitGroup
	finalized := make([]int, 2)
	for i, status := range []store.MessageStatus{store.MessageDelivered, store.MessageFailed} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := r.st.RecordPolls(ctx, r.clock.Now(), []store.PollResult{{ID: msgs[0].ID, Status: status, Number: "1"}})
			if err != nil {
				t.Error(err)
			}
			finalized[i] = len(ids)
		}()
	}
	wg.Wait()
	if finalized[0]+finalized[1] != 1 {
		t.Fatalf("finalised %v times, want once", finalized)
	}
	first := r.message(t, "m1")
	if _, err := r.st.RecordPolls(ctx, r.clock.Now(), []store.PollResult{{ID: msgs[0].ID, Status: store.MessageSending, NextPollAt: r.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	if m := r.message(t, "m1"); m.Status != first.Status || m.Polls != 1 {
		t.Fatalf("a late result changed a final message: %+v", m)
	}

	// A publisher that crashes after its publish: nothing is stamped.
	n, err := r.st.PublishReports(ctx, 10, func(ctx context.Context, ms []store.Message) []uuid.UUID {
		for _, m := range ms {
			data, _ := json.Marshal(outbox.ReportPayload(m))
			if _, err := r.js.Publish(ctx, bus.ReportSubject(m.Vendor), data, jetstream.WithMsgID(outbox.ReportMsgID(m.ID))); err != nil {
				t.Error(err)
			}
		}
		return nil
	})
	if err != nil || n != 0 {
		t.Fatalf("crashed publisher stamped %d (%v)", n, err)
	}
	if m := r.message(t, "m1"); m.PublishedAt != nil {
		t.Fatal("stamped without a successful publisher")
	}
	for range 2 {
		if _, err := outbox.NewPublisher(r.st, r.js, quiet()).Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if m := r.message(t, "m1"); m.PublishedAt == nil {
		t.Error("not stamped after the flush")
	}
	reps := r.reports(t)
	if len(reps) != 1 || reps[0].Status != string(first.Status) || reps[0].ID != msgs[0].ID.String() {
		t.Errorf("reports %+v, want exactly one %s event", reps, first.Status)
	}
}
