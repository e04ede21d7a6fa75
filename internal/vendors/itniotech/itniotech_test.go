package itniotech_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"relay/internal/vendors/itniotech"
	"relay/internal/vendors/signedapi"
	"relay/internal/vendors/signedapi/signedapitest"
)

func TestContract(t *testing.T) {
	t.Parallel()
	signedapitest.RunContract(t, signedapitest.Target{
		Vendor: signedapitest.Itniotech,
		Ops: []signedapitest.Op{
			{Name: "GetBalance", Path: "/sms/getBalance", Call: func(ctx context.Context, cfg signedapi.Config) error {
				_, err := itniotech.New(cfg).GetBalance(ctx)
				return err
			}},
		},
	})
}

func TestGetBalance(t *testing.T) {
	t.Parallel()
	srv := signedapitest.NewServer(t, signedapitest.Options{Vendor: signedapitest.Itniotech, APIKey: "k", APISecret: "s"})
	b, err := itniotech.New(itniotech.Config{BaseURL: srv.URL, APIKey: "k", APISecret: "s"}).GetBalance(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// The fake's default is the seed's example answer.
	if b.Balance.String() != "99.99" || b.Gift.String() != "50" || b.Credit.String() != "0" {
		t.Errorf("balance %+v", b)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestDefaultBaseURL(t *testing.T) {
	t.Parallel()
	var got string
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = r.URL.String()
		return &http.Response{StatusCode: 200, Header: http.Header{},
			Body: io.NopCloser(strings.NewReader(`{"status":"0","balance":"1","gift":"0","credit":"0"}`))}, nil
	})}
	if _, err := itniotech.New(itniotech.Config{APIKey: "k", APISecret: "s", HTTPClient: hc}).GetBalance(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got != "https://api.itniotech.com/sms/getBalance" {
		t.Errorf("request to %s", got)
	}
}
