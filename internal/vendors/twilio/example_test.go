package twilio_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/twilio"
	"relay/internal/vendors/twilio/twiliotest"
)

// Confirm tells Twilio that the recipient of a message acted on it. A
// message Twilio does not know (or that was sent without ProvideFeedback)
// is answered 20404, a permanent failure of that event.
func ExampleClient_Confirm() {
	const account, token = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90", "example-auth-token"
	fake := twiliotest.New(twiliotest.Options{AccountSID: account, AuthToken: token})
	srv := httptest.NewServer(fake)
	defer srv.Close()

	client := twilio.New(twilio.Config{
		BaseURL:    srv.URL, // https://api.twilio.com in production
		AccountSID: account,
		AuthToken:  token,
	})
	unknown := twiliotest.MessageSID(2)
	fake.Error(unknown, 404, twilio.CodeNotFound, "The requested resource was not found")
	for _, sid := range []string{twiliotest.MessageSID(1), unknown, "not-a-sid"} {
		a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: sid, At: time.Now()})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(a.Outcome, a.Status)
	}
	// Output:
	// confirmed HTTP 200
	// permanent 20404
	// permanent invalid message_id
}
