package plivo_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/plivo"
	"relay/internal/vendors/plivo/plivotest"
)

// Confirm reports a message sent with trackable=true as CONVERTED at the
// time the registration happened. A message Plivo does not know is
// answered 404, a permanent failure of that event.
func ExampleClient_Confirm() {
	const authID, authToken = "MAXXXXXXXXXXXXXXXXXX", "example-auth-token"
	fake := plivotest.New(plivotest.Options{AuthID: authID, AuthToken: authToken})
	srv := httptest.NewServer(fake)
	defer srv.Close()

	client := plivo.New(plivo.Config{
		BaseURL:   srv.URL, // https://api.plivo.com in production
		AuthID:    authID,
		AuthToken: authToken,
	})
	at := time.Date(2020, 8, 1, 13, 32, 26, 0, time.FixedZone("CEST", 2*3600))
	converted, unknown := plivotest.MessageUUID(1), plivotest.MessageUUID(2)
	fake.Answer(unknown, confirmtest.Permanent)
	for _, id := range []string{converted, unknown} {
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: id, At: at})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s %s: %s\n", a.Outcome, a.Status, a.Meaning)
	}
	fmt.Println(fake.Timestamps(converted))
	// Output:
	// confirmed HTTP 200: successfully recorded.
	// permanent HTTP 404: message not found
	// [2020-08-01T11:32:26Z]
}
