package liasmart_test

import (
	"fmt"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/liasmart/liasmarttest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	const id, password = "API4623444906", "password@123-SECRET"
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "liasmart",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return liasmart.New(liasmart.Config{BaseURL: baseURL, APIID: id, APIPassword: password, Timeout: timeout})
		},
		Fake: func(t *testing.T) confirmtest.Fake {
			f, srv := liasmarttest.NewServer(t, liasmarttest.Options{APIID: id, APIPassword: password})
			return liasmarttest.Conformant(f, srv.URL)
		},
		MessageID: func(n int) string { return fmt.Sprintf("conf-%d", n) },
		Secrets:   []string{password},
		Repeat:    confirm.AlreadyConfirmed,
	})
}

func TestCodeOutcomes(t *testing.T) {
	t.Parallel()
	want := map[liasmart.Code]confirm.Outcome{
		1000: confirm.Confirmed, 1009: confirm.AlreadyConfirmed,
		1003: confirm.Credentials, 1004: confirm.Credentials,
		1001: confirm.Permanent, 1002: confirm.Permanent, 1005: confirm.Permanent,
		1006: confirm.Permanent, 1007: confirm.Permanent, 1008: confirm.Permanent,
		1010: confirm.Transient, 0: confirm.Transient, -1: confirm.Transient, 99999: confirm.Transient,
	}
	for code, outcome := range want {
		if got := code.Outcome(); got != outcome {
			t.Errorf("%d: %s, want %s", code, got, outcome)
		}
	}
}
