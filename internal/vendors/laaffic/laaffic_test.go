package laaffic_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"relay/internal/vendors/laaffic"
	"relay/internal/vendors/signedapi"
	"relay/internal/vendors/signedapi/signedapitest"
)

// The seed's getReport sample request.
const (
	seedAppID = "4luaKsL2"
	seedMsg1  = "2108021054011000095"
	seedMsg2  = "2108021059531000096"
)

func TestContract(t *testing.T) {
	t.Parallel()
	signedapitest.RunContract(t, signedapitest.Target{
		Vendor: signedapitest.Laaffic,
		Ops: []signedapitest.Op{
			{Name: "GetBalance", Path: "/v3/getBalance", Call: func(ctx context.Context, cfg signedapi.Config) error {
				_, err := laaffic.New(cfg).GetBalance(ctx)
				return err
			}},
			{Name: "GetReport", Path: "/v3/getReport", Call: func(ctx context.Context, cfg signedapi.Config) error {
				_, err := laaffic.New(cfg).GetReport(ctx, seedAppID, []string{seedMsg1, seedMsg2})
				return err
			}},
		},
	})
}

func setup(t *testing.T) (*signedapitest.Server, *laaffic.Client) {
	t.Helper()
	srv := signedapitest.NewServer(t, signedapitest.Options{APIKey: "bDqJFiq9", APISecret: "s3cret", AppID: seedAppID})
	return srv, laaffic.New(laaffic.Config{BaseURL: srv.URL, APIKey: "bDqJFiq9", APISecret: "s3cret"})
}

// TestGetReportQueryAsSeed checks the query string byte for byte against
// the seed's sample URL: appId first, msgIds joined by plain commas.
func TestGetReportQueryAsSeed(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.SetReport(seedMsg1, signedapitest.ReportItem{Number: "91856321412", ReceiveTime: "2021-02-12T09:30:03+08:00", Status: "0"})
	r, err := c.GetReport(context.Background(), seedAppID, []string{seedMsg1, seedMsg2})
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	if want := "appId=4luaKsL2&msgIds=2108021054011000095,2108021059531000096"; reqs[0].RawQuery != want {
		t.Errorf("query %q, want %q", reqs[0].RawQuery, want)
	}
	if r.Success != 1 || r.NoFound != 1 || len(r.Items) != 1 || r.Items[0].MsgID != seedMsg1 {
		t.Errorf("report %+v", r)
	}
}

func TestGetReportItems(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.SetReport("a", signedapitest.ReportItem{Number: "1", ReceiveTime: "2021-02-12T09:30:03+08:00", Status: "0"})
	srv.SetReport("b", signedapitest.ReportItem{Number: "2", Status: "-1"})
	srv.SetReport("c", signedapitest.ReportItem{Number: "3", ReceiveTime: "2021-02-12T01:30:03Z", Status: "1"})
	srv.SetReport("d", signedapitest.ReportItem{Number: "4", ReceiveTime: "2021-02-12T09:30:03+0530", Status: "7"})
	r, err := c.GetReport(context.Background(), seedAppID, []string{"a", "b", "c", "d", "e"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Success != 1 || r.Sending != 1 || r.Fail != 1 || r.NoFound != 1 {
		t.Errorf("counts %+v", r)
	}
	want := []struct {
		id, number, at string
		status         laaffic.DeliveryStatus
	}{
		{"a", "1", "2021-02-12T09:30:03+08:00", laaffic.Delivered},
		{"b", "2", "", laaffic.Sending},
		{"c", "3", "2021-02-12T01:30:03Z", laaffic.Failed},
		{"d", "4", "2021-02-12T09:30:03+05:30", laaffic.Unknown},
	}
	if len(r.Items) != len(want) {
		t.Fatalf("items %+v", r.Items)
	}
	for i, w := range want {
		it := r.Items[i]
		at := ""
		if !it.ReceiveTime.IsZero() {
			at = it.ReceiveTime.Format(time.RFC3339)
		}
		if it.MsgID != w.id || it.Number != w.number || at != w.at || it.Status != w.status {
			t.Errorf("item %d = %+v (time %s), want %+v", i, it, at, w)
		}
	}
	if r.Items[3].RawStatus != "7" {
		t.Errorf("raw status %q", r.Items[3].RawStatus)
	}
}

func TestGetReportRejectsBadArguments(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	ctx := context.Background()
	if _, err := c.GetReport(ctx, seedAppID, nil); !errors.Is(err, laaffic.ErrNoMsgIDs) || !signedapi.Permanent(err) {
		t.Errorf("no ids: %v, want permanent ErrNoMsgIDs", err)
	}
	for name, call := range map[string]func() error{
		"empty appId": func() error { _, err := c.GetReport(ctx, "", []string{"1"}); return err },
		"empty id":    func() error { _, err := c.GetReport(ctx, seedAppID, []string{"1", ""}); return err },
		"comma in id": func() error { _, err := c.GetReport(ctx, seedAppID, []string{"1,2"}); return err },
	} {
		if err := call(); !errors.Is(err, signedapi.ErrInvalidRequest) || !signedapi.Permanent(err) {
			t.Errorf("%s: %v, want permanent ErrInvalidRequest", name, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Errorf("%d requests sent for bad arguments", n)
	}
}

// An appId the vendor does not know is answered -14 by the fake, as the
// page's "query ID is abnormal" suggests.
func TestGetReportWrongAppID(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	_, err := c.GetReport(context.Background(), "other", []string{seedMsg1})
	if !errors.Is(err, signedapi.ErrFieldEmpty) || !strings.HasPrefix(err.Error(), "laaffic: getReport: ") {
		t.Fatalf("error %v, want laaffic-prefixed ErrFieldEmpty", err)
	}
}

// TestParseReportGolden parses seed 002's response example, verbatim.
func TestParseReportGolden(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile(filepath.Join("testdata", "getReport_response.json"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := laaffic.ParseReport(body)
	if err != nil {
		t.Fatal(err)
	}
	if r.Success != 2 || r.Fail != 0 || r.Sending != 0 || r.NoFound != 0 || len(r.Items) != 2 {
		t.Fatalf("report %+v", r)
	}
	at := time.Date(2021, 2, 12, 9, 30, 3, 0, time.FixedZone("", 8*3600))
	for i, want := range []laaffic.ReportItem{
		{MsgID: seedMsg1, Number: "91856321412", ReceiveTime: at, Status: laaffic.Delivered, RawStatus: "0"},
		{MsgID: seedMsg2, Number: "91856321413", ReceiveTime: at, Status: laaffic.Delivered, RawStatus: "0"},
	} {
		got := r.Items[i]
		if got.MsgID != want.MsgID || got.Number != want.Number || !got.ReceiveTime.Equal(want.ReceiveTime) ||
			got.Status != want.Status || got.RawStatus != want.RawStatus {
			t.Errorf("item %d = %+v, want %+v", i, got, want)
		}
		if _, off := got.ReceiveTime.Zone(); off != 8*3600 {
			t.Errorf("item %d: offset %d, want the vendor's +08:00 kept", i, off)
		}
	}
}

func TestParseReport(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		body  string
		err   error
		items int
	}{
		{"empty array", `{"status":"0","success":"0","fail":"0","sending":"0","nofound":"3","array":[]}`, nil, 0},
		{"no array", `{"status":"0","nofound":"1"}`, nil, 0},
		{"bare numbers", `{"status":"0","success":1,"array":[{"msgId":12,"status":0,"receiveTime":""}]}`, nil, 1},
		{"fractional seconds", `{"status":"0","array":[{"msgId":"1","receiveTime":"2021-02-12T09:30:03.250+08:00","status":"0"}]}`, nil, 1},
		{"failure", `{"status":"-14","reason":"Field is empty or query ID is abnormal"}`, signedapi.ErrFieldEmpty, 0},
		{"failure -11", `{"status":"-11","reason":"Incorrect time format"}`, signedapi.ErrTimeFormat, 0},
		{"failure -19", `{"status":"-19"}`, signedapi.ErrChannelNotBound, 0},
		{"negative count", `{"status":"0","fail":"-1"}`, signedapi.ErrMalformedResponse, 0},
		{"text count", `{"status":"0","fail":"two"}`, signedapi.ErrMalformedResponse, 0},
		{"no msgId", `{"status":"0","array":[{"number":"1","status":"0"}]}`, signedapi.ErrMalformedResponse, 0},
		{"no offset: item kept", `{"status":"0","array":[{"msgId":"1","receiveTime":"2021-02-12 09:30:03","status":"0"}]}`, nil, 1},
		{"array not a list", `{"status":"0","array":{}}`, signedapi.ErrMalformedResponse, 0},
		{"not JSON", `{"status":"0",`, signedapi.ErrMalformedResponse, 0},
	} {
		r, err := laaffic.ParseReport([]byte(tc.body))
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if len(r.Items) != tc.items {
			t.Errorf("%s: %d items, want %d", tc.name, len(r.Items), tc.items)
		}
	}
}

// TestParseReportKeepsItemWithOddReceiveTime: one item whose receiveTime
// does not parse is kept, with a zero ReceiveTime and the text in
// RawReceiveTime, and does not hide the other items of the batch.
func TestParseReportKeepsItemWithOddReceiveTime(t *testing.T) {
	t.Parallel()
	r, err := laaffic.ParseReport([]byte(`{"status":"0","success":"2","array":[
		{"msgId":"a","number":"1","receiveTime":"2021-02-12 09:30:03","status":"0"},
		{"msgId":"b","number":"2","receiveTime":"yesterday","status":"1"},
		{"msgId":"c","number":"3","receiveTime":"2021-02-12T09:30:03+08:00","status":"0"},
		{"msgId":"d","number":"4","receiveTime":"","status":"-1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 4 {
		t.Fatalf("items %+v, want 4", r.Items)
	}
	for i, want := range []struct {
		id, raw string
		zero    bool
		status  laaffic.DeliveryStatus
	}{
		{"a", "2021-02-12 09:30:03", true, laaffic.Delivered},
		{"b", "yesterday", true, laaffic.Failed},
		{"c", "2021-02-12T09:30:03+08:00", false, laaffic.Delivered},
		{"d", "", true, laaffic.Sending},
	} {
		it := r.Items[i]
		if it.MsgID != want.id || it.RawReceiveTime != want.raw || it.ReceiveTime.IsZero() != want.zero || it.Status != want.status {
			t.Errorf("item %d = %+v, want id %s raw %q zero time %v status %v", i, it, want.id, want.raw, want.zero, want.status)
		}
	}
	if at := r.Items[2].ReceiveTime; !at.Equal(time.Date(2021, 2, 12, 1, 30, 3, 0, time.UTC)) {
		t.Errorf("parsed time %s", at)
	}
}

func TestDeliveryStatus(t *testing.T) {
	t.Parallel()
	for raw, want := range map[string]laaffic.DeliveryStatus{
		"0": laaffic.Delivered, "-1": laaffic.Sending, "1": laaffic.Failed,
		"": laaffic.Unknown, "2": laaffic.Unknown, " 0": laaffic.Unknown, "success": laaffic.Unknown,
	} {
		if got := laaffic.ParseDeliveryStatus(raw); got != want {
			t.Errorf("ParseDeliveryStatus(%q) = %v, want %v", raw, got, want)
		}
	}
	for s, want := range map[laaffic.DeliveryStatus]struct {
		name  string
		final bool
	}{
		laaffic.Delivered: {"delivered", true}, laaffic.Failed: {"failed", true},
		laaffic.Sending: {"sending", false}, laaffic.Unknown: {"unknown", false},
	} {
		if s.String() != want.name || s.Final() != want.final {
			t.Errorf("%d: %s final=%v, want %s %v", s, s, s.Final(), want.name, want.final)
		}
	}
}

// roundTripFunc answers without a network, to see where New sends requests
// by default.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDefaultBaseURL(t *testing.T) {
	t.Parallel()
	var got []string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.String())
		return &http.Response{StatusCode: 200, Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(`{"status":"0","balance":"1","gift":"0","credit":"0","array":[]}`))}, nil
	})}
	c := laaffic.New(laaffic.Config{APIKey: "k", APISecret: "s", HTTPClient: hc})
	if _, err := c.GetBalance(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetReport(context.Background(), "app", []string{"1", "2"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"https://api.laaffic.com/v3/getBalance", "https://api.laaffic.com/v3/getReport?appId=app&msgIds=1,2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("requests %q, want %q", got, want)
	}
}

// TestParseReportItemTextsAreSafeToStore: the texts an item keeps as sent
// go to PostgreSQL; a NUL, an invalid byte or a flood of text there must
// not fail the batch that stores them.
func TestParseReportItemTextsAreSafeToStore(t *testing.T) {
	t.Parallel()
	body := `{"status":"0","reason":"success","success":"1","fail":"0","sending":"0","nofound":"0","array":[` +
		`{"msgId":"m1","number":"9185\u00006","receiveTime":"` + strings.Repeat("2", 300) + "\xff" + `","status":"x\u0000\ny"}]}`
	r, err := laaffic.ParseReport([]byte(body))
	if err != nil || len(r.Items) != 1 {
		t.Fatalf("ParseReport = %+v, %v", r, err)
	}
	it := r.Items[0]
	for name, s := range map[string]string{"number": it.Number, "receiveTime": it.RawReceiveTime, "status": it.RawStatus} {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\n") || len(s) > 64+len("…") {
			t.Errorf("%s kept as %q: not valid, one-line and bounded", name, s)
		}
	}
	if it.Number != "9185 6" || it.RawStatus != "x y" {
		t.Errorf("number %q, status %q", it.Number, it.RawStatus)
	}
}
