package liasmart_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// safeText fails the test if s could not be stored, logged or shown as it
// is: invalid UTF-8, a control character, a credential or a piece of one.
func safeText(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s is not valid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Errorf("%s holds control character %U: %q", what, r, s)
			break
		}
	}
	for _, secret := range []string{apiPassword, apiPassword[:len(apiPassword)/2], apiPassword[len(apiPassword)/2:], apiID} {
		if strings.Contains(s, secret) {
			t.Errorf("%s holds (part of) a credential: %q", what, s)
		}
	}
}

// TestHostileAnswers: whatever comes back, Confirm ends within its timeout
// with a classified answer or error whose text is safe to keep.
func TestHostileAnswers(t *testing.T) {
	t.Parallel()
	httpErr := func(status int) func(error) bool {
		return func(err error) bool {
			var he *liasmart.HTTPError
			return errors.As(err, &he) && he.StatusCode == status
		}
	}
	cases := []struct {
		name  string
		reply *liasmarttest.Reply
		check func(error) bool
	}{
		{"nul page", liasmarttest.NULPage(), httpErr(503)},
		{"split character", liasmarttest.SplitCharPage(), httpErr(503)},
		{"echoed password", liasmarttest.EchoPage(apiPassword), httpErr(503)},
		{"echoed password in a 200", &liasmarttest.Reply{Body: strings.Repeat("x", 190) + apiPassword}, func(err error) bool {
			return errors.Is(err, liasmart.ErrBadResponse)
		}},
		{"huge 200", liasmarttest.HugeBody(20 << 20), func(err error) bool { return errors.Is(err, liasmart.ErrTooLarge) }},
		{"huge 503", &liasmarttest.Reply{Status: 503, Body: apiPassword, Pad: 20 << 20}, func(err error) bool {
			var he *liasmart.HTTPError
			return errors.As(err, &he) && he.StatusCode == 503 && he.Snippet == "(answer over 64 KiB)"
		}},
		{"drip", liasmarttest.DripBody(100 * time.Millisecond), func(err error) bool { return errors.Is(err, liasmart.ErrTimeout) }},
		{"redirect", liasmarttest.Redirect("/elsewhere"), httpErr(302)},
		{"html 200", liasmarttest.HTMLPage(), func(err error) bool { return errors.Is(err, liasmart.ErrBadResponse) }},
		{"invalid UTF-8 in a 200", &liasmarttest.Reply{Body: "\xff\xfe<html>\x00"}, func(err error) bool {
			return errors.Is(err, liasmart.ErrBadResponse)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, srv := liasmarttest.NewServer(t, liasmarttest.Options{
				Script: func(string, int) *liasmarttest.Reply { return tc.reply },
			})
			c := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: apiPassword, Timeout: 500 * time.Millisecond})
			res, err := c.Call(context.Background(), "m1")
			if err == nil || !tc.check(err) {
				t.Fatalf("Confirm = %+v, %v; not the classified failure expected", res, err)
			}
			safeText(t, "error", err.Error())
			var he *liasmart.HTTPError
			if errors.As(err, &he) && he.Snippet == "" {
				t.Errorf("empty snippet for %d", he.StatusCode)
			}
		})
	}
}

func TestHostileCodeAndDescription(t *testing.T) {
	t.Parallel()
	replies := map[string]*liasmarttest.Reply{
		"huge code": liasmarttest.HugeCode(),
		"echo":      {Body: `{"ErrorCode":1004,"ErrorDescription":"Invalid api_password ` + apiPassword + "\\n\\u0000" + `"}`},
	}
	for name, reply := range replies {
		_, srv := liasmarttest.NewServer(t, liasmarttest.Options{Script: func(string, int) *liasmarttest.Reply { return reply }})
		c := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: apiPassword})
		res, err := c.Call(context.Background(), "m1")
		if err != nil || res.Code == 0 {
			t.Fatalf("%s: Confirm = %+v, %v; want the code", name, res, err)
		}
		safeText(t, name+" description", res.Description)
	}
}

// TestRedirectIsNotFollowedWithTheCallersClient: a client passed in Config
// is copied without its redirect policy.
func TestRedirectIsNotFollowedWithTheCallersClient(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(target.Close)
	_, srv := liasmarttest.NewServer(t, liasmarttest.Options{
		Script: func(string, int) *liasmarttest.Reply { return liasmarttest.Redirect(target.URL + "/api/CTrack") },
	})
	c := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: apiPassword, HTTPClient: &http.Client{}})
	_, err := c.Call(context.Background(), "m1")
	var he *liasmart.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusFound {
		t.Fatalf("got %v, want HTTPError 302", err)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("the redirect's target got %d requests, want none", n)
	}
}
