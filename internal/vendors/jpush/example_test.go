package jpush_test

import (
	"context"
	"errors"
	"fmt"

	"relay/internal/vendors/jpush"
	"relay/internal/vendors/jpush/jpushtest"
)

// The fake answers the seed's sample; a monitor exports the readings
// under their kinds without knowing the vendor's field names.
func ExampleClient_DevBalance() {
	srv := jpushtest.Start(jpushtest.Options{})
	defer srv.Close()
	c := jpush.New(srv.Config())

	b, err := c.DevBalance(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range b.Readings() {
		fmt.Println(r.Kind, r.Quota)
	}
	// Output:
	// balance 9
	// voice 702
	// industry 121981
	// market 11683
}

// A null field is a quota that was never allocated, not an empty one.
func ExampleClient_AppBalance() {
	srv := jpushtest.Start(jpushtest.Options{
		App: jpushtest.Response{Quotas: &jpushtest.Quotas{Balance: jpushtest.Int(0), Voice: jpushtest.Int(22)}},
	})
	defer srv.Close()
	c := jpush.New(srv.Config())

	b, err := c.AppBalance(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range b.Readings() {
		fmt.Printf("%s: %v (allocated %t)\n", r.Kind, r.Quota, r.Quota.Allocated)
	}
	// Output:
	// balance: 0 (allocated true)
	// voice: 22 (allocated true)
	// industry: not allocated (allocated false)
	// market: not allocated (allocated false)
}

// Retryable and ErrUnauthorized sort failures: try later, raise a
// bad-credentials alert, or give up.
func ExampleRetryable() {
	srv := jpushtest.Start(jpushtest.Options{
		Dev: jpushtest.Response{Status: 401, Error: &jpushtest.Error{Code: 50001, Message: "auth failed"}},
		App: jpushtest.Response{Status: 503},
	})
	defer srv.Close()
	c := jpush.New(srv.Config())

	_, err := c.DevBalance(context.Background())
	fmt.Println(err)
	fmt.Println("retryable:", jpush.Retryable(err), "unauthorized:", errors.Is(err, jpush.ErrUnauthorized))

	_, err = c.AppBalance(context.Background())
	fmt.Println(err)
	fmt.Println("retryable:", jpush.Retryable(err))

	_, err = jpush.New(jpush.Config{}).DevBalance(context.Background())
	fmt.Println(err)
	fmt.Println("not configured:", errors.Is(err, jpush.ErrNotConfigured))
	// Output:
	// jpush: GET /v1/accounts/dev: HTTP 401 Unauthorized: code 50001: "auth failed"
	// retryable: false unauthorized: true
	// jpush: GET /v1/accounts/app: HTTP 503 Service Unavailable
	// retryable: true
	// jpush: GET /v1/accounts/dev: credentials not configured: DevKey and DevSecret are empty
	// not configured: true
}
