package liasmart_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/liasmart/liasmarttest"
)

const (
	apiID       = "API4623444906"
	apiPassword = "password@123-very-secret"
)

func TestParseSeedSample(t *testing.T) {
	t.Parallel()
	// The vendor page's own sample answer, which lacks a comma.
	raw, err := os.ReadFile("testdata/seed_response.txt")
	if err != nil {
		t.Fatal(err)
	}
	code, desc, err := liasmart.ParseResponse(raw)
	if err != nil || code != liasmart.CodeOK || desc != "OK" {
		t.Fatalf("ParseResponse(seed) = %d, %q, %v; want 1000, OK", code, desc, err)
	}
}

func TestParseResponse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body string
		code liasmart.Code
		err  error
	}{
		{`{"ErrorCode":1009,"ErrorDescription":"message_id already updated"}`, 1009, nil},
		{`{"ErrorCode":"1004","ErrorDescription":"Invalid api_password"}`, 1004, nil},
		{`{"ErrorCode": 1003 "ErrorDescription": "Invalid api_id"}`, 1003, nil},
		{`{"ErrorDescription":"OK"}`, 0, liasmart.ErrBadResponse},
		{`<html>502 Bad Gateway</html>`, 0, liasmart.ErrBadResponse},
		{``, 0, liasmart.ErrBadResponse},
	}
	for _, c := range cases {
		code, _, err := liasmart.ParseResponse([]byte(c.body))
		if code != c.code || !errors.Is(err, c.err) {
			t.Errorf("ParseResponse(%q) = %d, %v; want %d, %v", c.body, code, err, c.code, c.err)
		}
	}
}

func TestCodesHaveTheirDocumentedMeaning(t *testing.T) {
	t.Parallel()
	want := map[liasmart.Code]string{
		1000: "OK", 1001: "api_id not specified", 1002: "api_password not specified",
		1003: "Invalid api_id", 1004: "Invalid api_password", 1005: "status not specified",
		1006: "Invalid status", 1007: "message_id not specified", 1008: "Invalid message_id",
		1009: "message_id already updated",
	}
	for code, meaning := range want {
		if got := code.Meaning(); got != meaning || !code.Documented() {
			t.Errorf("Code(%d).Meaning() = %q, want %q", code, got, meaning)
		}
	}
	if liasmart.Code(1010).Documented() {
		t.Error("1010 reported as documented")
	}
}

func TestConfirm(t *testing.T) {
	t.Parallel()
	fake, srv := liasmarttest.NewServer(t, liasmarttest.Options{APIID: apiID, APIPassword: apiPassword})
	c := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: apiPassword})
	ctx := context.Background()
	for i, want := range []liasmart.Code{1000, 1009} {
		res, err := c.Call(ctx, "4134")
		if err != nil || res.Code != want || res.HTTPStatus != 200 {
			t.Fatalf("call %d: %+v, %v; want %d", i+1, res, err, want)
		}
	}
	if n := fake.Confirmations("4134"); n != 1 {
		t.Fatalf("fake saw %d confirmations, want 1", n)
	}

	wrong := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: "nope-wrong-password"})
	res, err := wrong.Call(ctx, "4135")
	if err != nil || res.Code != liasmart.CodeInvalidAPIPassword {
		t.Fatalf("wrong password: %+v, %v; want 1004", res, err)
	}
}

func TestConfirmFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		reply liasmarttest.Reply
		check func(error) bool
	}{
		{"503", liasmarttest.Reply{Status: 503}, func(err error) bool {
			var he *liasmart.HTTPError
			return errors.As(err, &he) && he.StatusCode == 503
		}},
		{"429", liasmarttest.Reply{Status: 429}, func(err error) bool {
			var he *liasmart.HTTPError
			return errors.As(err, &he) && he.StatusCode == 429
		}},
		{"garbage", liasmarttest.Reply{Body: "<html>oops " + apiPassword + "</html>"}, func(err error) bool {
			return errors.Is(err, liasmart.ErrBadResponse)
		}},
		{"timeout", liasmarttest.Reply{Delay: 2 * time.Second}, func(err error) bool {
			return errors.Is(err, liasmart.ErrTimeout)
		}},
		{"reset", liasmarttest.Reply{Reset: true}, func(err error) bool {
			return err != nil && !errors.Is(err, liasmart.ErrTimeout)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reply := tc.reply
			_, srv := liasmarttest.NewServer(t, liasmarttest.Options{
				Script: func(string, int) *liasmarttest.Reply { return &reply },
			})
			c := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: apiPassword, Timeout: 200 * time.Millisecond})
			_, err := c.Call(context.Background(), "m1")
			if !tc.check(err) {
				t.Fatalf("error %v does not match", err)
			}
			if strings.Contains(err.Error(), apiPassword) || strings.Contains(err.Error(), apiID) {
				t.Fatalf("error leaks a credential: %v", err)
			}
		})
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	srv := http.NewServeMux()
	srv.HandleFunc("/api/CTrack", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	ts := newServer(t, srv)
	c := liasmart.New(liasmart.Config{BaseURL: ts, APIID: apiID, APIPassword: apiPassword})
	_, err := c.Call(context.Background(), "m1")
	var he *liasmart.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusFound {
		t.Fatalf("got %v, want HTTPError 302", err)
	}
}

func FuzzParseResponse(f *testing.F) {
	if raw, err := os.ReadFile("testdata/seed_response.txt"); err == nil {
		f.Add(raw)
	}
	f.Add([]byte(`{"ErrorCode":1009,"ErrorDescription":"message_id already updated"}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		code, _, err := liasmart.ParseResponse(raw)
		if err == nil && code == 0 && !strings.Contains(string(raw), "ErrorCode") {
			t.Fatalf("code 0 without an ErrorCode in %q", raw)
		}
	})
}
