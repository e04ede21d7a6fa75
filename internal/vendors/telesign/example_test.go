package telesign_test

import (
	"context"
	"fmt"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/telesign"
	"relay/internal/vendors/telesign/telesigntest"
)

// Confirm tells Telesign that a verification was completed. Telesign
// answers status 1900; a reference id it does not know is -10001, a
// permanent failure of the event.
func ExampleClient_Confirm() {
	fake := telesigntest.Start(telesigntest.Options{CustomerID: "FFFFFFFF-EEEE-DDDD-1234-AB1234567890", APIKey: "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw=="})
	defer fake.Close()

	client := telesign.New(telesign.Config{
		BaseURL:    fake.URL(), // https://rest-ww.telesign.com in production
		CustomerID: "FFFFFFFF-EEEE-DDDD-1234-AB1234567890",
		APIKey:     "EXAMPLE----TE8sTgg45yusumoN6BYsBVkh+yRJ5czgsnCehZaOYldPJdmFh6NeX8kunZ2zU1YWaUw/0wV6xfw==",
	})
	conv := confirm.Conversion{MessageID: "0123456789ABCDEF0123456789ABCDEF"}
	for _, code := range []int{0, -10001} {
		if code != 0 {
			fake.Code(conv.MessageID, code)
		}
		a, err := client.Confirm(context.Background(), conv)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s %s: %s\n", a.Outcome, a.Status, a.Meaning)
	}
	// Output:
	// confirmed 1900: Verify completion successfully recorded
	// permanent -10001: CustomerID/ReferenceID not found
}
