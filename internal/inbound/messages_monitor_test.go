package inbound_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"relay/internal/inbound"
	"relay/internal/monitor"
	"relay/internal/store"
	"relay/internal/testenv"
)

const monitorAdminToken = "monitor-admin-token-0123456789"

// messagesEnv is a server with delivery-report tracking backed by a fresh
// database; laaffic's default app id is defaultApp ("" for none).
func messagesEnv(t *testing.T, defaultApp string) (*env, *store.Store) {
	t.Helper()
	st, _ := testenv.Store(t)
	e := newEnv(t, st, func(c *inbound.Config) { c.AdminToken = monitorAdminToken })
	e.srv.SetMessageService(&monitor.Tracker{Store: st, Vendors: map[string]string{"laaffic": defaultApp}, TTL: time.Hour})
	e.srv.SetBalanceService(st)
	return e, st
}

type trackAnswer struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
}

func TestTrackMessageThenRead(t *testing.T) {
	t.Parallel()
	e, _ := messagesEnv(t, "4luaKsL2")
	body := []byte(`{"vendor":"laaffic","message_id":"2108021054011000095","extra":"ignored"}`)
	want := inbound.TrackedMessageID("laaffic", "2108021054011000095").String()
	for i, code := range []int{http.StatusAccepted, http.StatusOK} {
		resp, raw := e.post(t, "/v1/messages", body)
		var a trackAnswer
		if resp.StatusCode != code || json.Unmarshal(raw, &a) != nil || a.ID != want || a.Status != "tracking" || a.Duplicate != (i == 1) {
			t.Fatalf("POST %d: %d %s, want %d with id %s", i+1, resp.StatusCode, raw, code, want)
		}
	}
	resp, raw := e.do(t, http.MethodGet, "/v1/messages/"+want, nil, map[string]string{"Authorization": testBearer})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET: %d %s", resp.StatusCode, raw)
	}
	var view map[string]any
	if err := json.Unmarshal(raw, &view); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"id", "vendor", "message_id", "app_id", "status", "receive_time", "polls", "next_poll_at", "created_at", "updated_at"} {
		if _, ok := view[f]; !ok {
			t.Errorf("GET lacks %q: %s", f, raw)
		}
	}
	if view["app_id"] != "4luaKsL2" || view["status"] != "sending" || view["polls"] != float64(0) ||
		view["receive_time"] != nil || view["next_poll_at"] == nil || view["vendor"] != "laaffic" {
		t.Errorf("GET %s", raw)
	}

	resp, raw = e.do(t, http.MethodGet, "/v1/messages/"+inbound.TrackedMessageID("laaffic", "nope").String(), nil, map[string]string{"Authorization": testBearer})
	checkProblem(t, resp, raw, http.StatusNotFound, "")
	resp, raw = e.do(t, http.MethodGet, "/v1/messages/not-a-uuid", nil, map[string]string{"Authorization": testBearer})
	checkProblem(t, resp, raw, http.StatusNotFound, "")
	resp, raw = e.do(t, http.MethodGet, "/v1/messages/"+want, nil, map[string]string{"Authorization": "Bearer " + monitorAdminToken})
	checkProblem(t, resp, raw, http.StatusUnauthorized, "")
}

// The id is the UUIDv5 of "urn:relay:message:<vendor>:<message_id>", so
// clients can compute it; it differs from the registration id.
func TestTrackedMessageIDIsDocumented(t *testing.T) {
	t.Parallel()
	got := inbound.TrackedMessageID("laaffic", "4134")
	if got.String() != "c89d486f-34d6-5b8a-aaeb-db252f33d831" || got == inbound.EventID("laaffic", "4134") {
		t.Fatalf("id %s, want the UUIDv5 (URL namespace) of urn:relay:message:laaffic:4134", got)
	}
}

func TestTrackMessageValidation(t *testing.T) {
	t.Parallel()
	e, _ := messagesEnv(t, "")
	for _, c := range []struct {
		name, body string
		status     int
		field      string
	}{
		{"no vendor", `{"message_id":"1","app_id":"a"}`, 422, "vendor"},
		{"vendor without report API", `{"vendor":"liasmart","message_id":"1","app_id":"a"}`, 422, "vendor"},
		{"vendor not configured", `{"vendor":"itniotech","message_id":"1","app_id":"a"}`, 422, "vendor"},
		{"vendor not a string", `{"vendor":7,"message_id":"1","app_id":"a"}`, 422, "vendor"},
		{"no message_id", `{"vendor":"laaffic","app_id":"a"}`, 422, "message_id"},
		{"comma in message_id", `{"vendor":"laaffic","message_id":"1,2","app_id":"a"}`, 422, "message_id"},
		{"space in message_id", `{"vendor":"laaffic","message_id":"1 2","app_id":"a"}`, 422, "message_id"},
		{"long message_id", `{"vendor":"laaffic","message_id":"` + strings.Repeat("9", 129) + `","app_id":"a"}`, 422, "message_id"},
		{"no app_id and no default", `{"vendor":"laaffic","message_id":"1"}`, 422, "app_id"},
		{"app_id not a string", `{"vendor":"laaffic","message_id":"1","app_id":5}`, 422, "app_id"},
		{"empty app_id", `{"vendor":"laaffic","message_id":"1","app_id":""}`, 422, "app_id"},
		{"array body", `[]`, 422, "(body)"},
		{"malformed", `{"vendor":`, 400, ""},
	} {
		resp, raw := e.post(t, "/v1/messages", []byte(c.body))
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, raw, c.status)
			continue
		}
		checkProblem(t, resp, raw, c.status, c.field)
	}
	resp, raw := e.do(t, http.MethodPost, "/v1/messages", []byte(`{}`), map[string]string{"Authorization": testBearer, "Content-Type": "text/plain"})
	checkProblem(t, resp, raw, http.StatusUnsupportedMediaType, "")
	resp, raw = e.do(t, http.MethodPost, "/v1/messages", []byte(`{}`), map[string]string{"Content-Type": "application/json"})
	checkProblem(t, resp, raw, http.StatusUnauthorized, "")
	// A body over 64 KiB is refused 413 while it is read, over TCP
	// (TestBadInput): app.Test sees the read's error instead.
	// With an app_id given, no default is needed.
	resp, raw = e.post(t, "/v1/messages", []byte(`{"vendor":"laaffic","message_id":"1","app_id":"a"}`))
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("valid message: %d %s", resp.StatusCode, raw)
	}
}

func TestTrackMessageBatch(t *testing.T) {
	t.Parallel()
	e, st := messagesEnv(t, "app1")
	body := `{"messages":[
		{"vendor":"laaffic","message_id":"b1"},
		{"vendor":"laaffic","message_id":"b,2"},
		{"vendor":"laaffic","message_id":"b1","app_id":"other"},
		"not an object",
		{"vendor":"laaffic","message_id":"b3","app_id":"app2"}]}`
	resp, raw := e.post(t, "/v1/messages/batch", []byte(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Results []struct {
			ID        string          `json:"id"`
			Status    string          `json:"status"`
			Duplicate bool            `json:"duplicate"`
			Error     json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Results) != 5 {
		t.Fatalf("batch answer %s", raw)
	}
	r := out.Results
	id1 := inbound.TrackedMessageID("laaffic", "b1").String()
	if r[0].ID != id1 || r[0].Duplicate || r[0].Status != "tracking" || r[0].Error != nil {
		t.Errorf("item 0 %+v", r[0])
	}
	if r[1].Error == nil || !strings.Contains(string(r[1].Error), "message_id") || r[1].ID != "" {
		t.Errorf("item 1 %+v %s", r[1], r[1].Error)
	}
	if r[2].ID != id1 || !r[2].Duplicate {
		t.Errorf("item 2 (repeat within the batch) %+v", r[2])
	}
	if r[3].Error == nil || !strings.Contains(string(r[3].Error), "messages[3]") {
		t.Errorf("item 3 %+v", r[3])
	}
	if r[4].Duplicate || r[4].ID != inbound.TrackedMessageID("laaffic", "b3").String() {
		t.Errorf("item 4 %+v", r[4])
	}
	ctx := context.Background()
	for id, app := range map[string]string{"b1": "app1", "b3": "app2"} {
		m, err := st.Message(ctx, inbound.TrackedMessageID("laaffic", id))
		if err != nil || m.AppID != app || m.APIKey == nil || *m.APIKey != "app1" {
			t.Errorf("%s stored as %+v (%v), want app %s, key app1", id, m, err, app)
		}
	}

	items := make([]string, inbound.MaxBatchMessages+1)
	for i := range items {
		items[i] = fmt.Sprintf(`{"vendor":"laaffic","message_id":"x%d"}`, i)
	}
	resp, raw = e.post(t, "/v1/messages/batch", []byte(`{"messages":[`+strings.Join(items, ",")+`]}`))
	checkProblem(t, resp, raw, http.StatusUnprocessableEntity, "messages")
	resp, raw = e.post(t, "/v1/messages/batch", []byte(`{"messages":[]}`))
	checkProblem(t, resp, raw, http.StatusUnprocessableEntity, "messages")
	resp, raw = e.post(t, "/v1/messages/batch", []byte(`{"messages":[`+strings.Join(items[:1000], ",")+`]}`))
	if resp.StatusCode != http.StatusOK || strings.Count(string(raw), `"duplicate":false`) != 1000 {
		t.Errorf("batch of 1000: %d %.200s", resp.StatusCode, raw)
	}
}

func TestMessagesWithoutServiceAnswer404(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	resp, raw := e.post(t, "/v1/messages", []byte(`{"vendor":"laaffic","message_id":"1"}`))
	checkProblem(t, resp, raw, http.StatusNotFound, "")
}

func TestAdminBalances(t *testing.T) {
	t.Parallel()
	e, st := messagesEnv(t, "")
	ctx := context.Background()
	at := time.Date(2026, 11, 29, 18, 0, 0, 0, time.UTC)
	v := decimal.RequireFromString("99.990000")
	zero := decimal.Zero
	err := st.InTx(ctx, func(db store.DBTX) error {
		_, err := st.RecordBalances(ctx, db, "jpush", []store.BalanceReading{
			{Kind: "dev_balance", Value: &zero, CheckedAt: at, Below: true},
			{Kind: "dev_voice", CheckedAt: at},
		})
		if err != nil {
			return err
		}
		_, err = st.RecordBalances(ctx, db, "laaffic", []store.BalanceReading{{Kind: "balance", Value: &v, CheckedAt: at}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, raw := e.do(t, http.MethodGet, "/admin/v1/balances", nil, map[string]string{"Authorization": "Bearer " + monitorAdminToken})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET balances: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Items []struct {
			Vendor    string    `json:"vendor"`
			Kind      string    `json:"kind"`
			Value     *string   `json:"value"`
			CheckedAt time.Time `json:"checked_at"`
			Below     bool      `json:"below_threshold"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Items) != 3 {
		t.Fatalf("balances %s", raw)
	}
	got := []string{}
	for _, it := range out.Items {
		val := "null"
		if it.Value != nil {
			val = *it.Value
		}
		got = append(got, fmt.Sprintf("%s/%s=%s/%v", it.Vendor, it.Kind, val, it.Below))
		if !it.CheckedAt.Equal(at) {
			t.Errorf("checked_at %s", it.CheckedAt)
		}
	}
	if want := "jpush/dev_balance=0/true jpush/dev_voice=null/false laaffic/balance=99.99/false"; strings.Join(got, " ") != want {
		t.Errorf("balances %s, want %s", strings.Join(got, " "), want)
	}
	resp, raw = e.do(t, http.MethodGet, "/admin/v1/balances", nil, map[string]string{"Authorization": testBearer})
	checkProblem(t, resp, raw, http.StatusUnauthorized, "")
}

// FuzzDecodeMessage: no body makes the decoder panic; an accepted message
// satisfies every documented rule and carries its deterministic id.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{
		`{"vendor":"laaffic","message_id":"2108021054011000095"}`,
		`{"vendor":"laaffic","message_id":"1","app_id":"4luaKsL2"}`,
		`{"vendor":"laaffic","message_id":"1,2"}`,
		`{"vendor":"liasmart","message_id":"1"}`,
		`{"vendor":"laaffic","message_id":"1","app_id":null}`,
		`[]`, `null`, `{"vendor":`,
	} {
		f.Add([]byte(seed))
	}
	vendors := map[string]string{"laaffic": "default-app"}
	f.Fuzz(func(t *testing.T, body []byte) {
		m, p := inbound.DecodeMessage(body, vendors)
		if p != nil {
			if p.Status != 400 && p.Status != 422 {
				t.Fatalf("problem status %d", p.Status)
			}
			return
		}
		if m.Vendor != "laaffic" || m.AppID == "" || len(m.MessageID) == 0 || len(m.MessageID) > 128 ||
			strings.ContainsAny(m.MessageID, ", \t\n") || m.ID != inbound.TrackedMessageID(m.Vendor, m.MessageID) {
			t.Fatalf("accepted %+v from %q", m, body)
		}
		for _, s := range []string{m.MessageID, m.AppID} {
			for i := 0; i < len(s); i++ {
				if s[i] < 0x21 || s[i] > 0x7e {
					t.Fatalf("byte 0x%02x accepted in %q", s[i], s)
				}
			}
		}
	})
}
