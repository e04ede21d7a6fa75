package itniotech_test

import (
	"context"
	"fmt"

	"relay/internal/vendors/itniotech"
	"relay/internal/vendors/signedapi/signedapitest"
)

func ExampleClient_GetBalance() {
	// A fake Itniotech, serving the seed's /sms/getBalance.
	vendor := signedapitest.Start(signedapitest.Options{
		Vendor: signedapitest.Itniotech, APIKey: "bDqJFiq9", APISecret: "your api secret",
	})
	defer vendor.Close()
	vendor.SetBalance("1250.500000", "0", "300")

	c := itniotech.New(itniotech.Config{BaseURL: vendor.URL, APIKey: "bDqJFiq9", APISecret: "your api secret"})
	b, err := c.GetBalance(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("balance", b.Balance.StringFixed(2), "gift", b.Gift, "credit", b.Credit)
	fmt.Println("spendable", b.Balance.Add(b.Gift).Add(b.Credit))
	// Output:
	// balance 1250.50 gift 0 credit 300
	// spendable 1550.5
}
