package laaffic_test

import (
	"context"
	"errors"
	"fmt"

	"relay/internal/vendors/laaffic"
	"relay/internal/vendors/signedapi"
	"relay/internal/vendors/signedapi/signedapitest"
)

func ExampleClient_GetBalance() {
	// A fake Laaffic answering the seed's example balance.
	vendor := signedapitest.Start(signedapitest.Options{APIKey: "bDqJFiq9", APISecret: "your api secret"})
	defer vendor.Close()

	c := laaffic.New(laaffic.Config{BaseURL: vendor.URL, APIKey: "bDqJFiq9", APISecret: "your api secret"})
	b, err := c.GetBalance(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("balance", b.Balance, "gift", b.Gift, "credit", b.Credit)
	// Output: balance 99.99 gift 50 credit 0
}

func ExampleClient_GetReport() {
	vendor := signedapitest.Start(signedapitest.Options{APIKey: "bDqJFiq9", APISecret: "your api secret", AppID: "4luaKsL2"})
	defer vendor.Close()
	vendor.SetReport("2108021054011000095", signedapitest.ReportItem{
		Number: "91856321412", ReceiveTime: "2021-02-12T09:30:03+08:00", Status: "0",
	})
	vendor.SetReport("2108021059531000096", signedapitest.ReportItem{Number: "91856321413", Status: "-1"})

	c := laaffic.New(laaffic.Config{BaseURL: vendor.URL, APIKey: "bDqJFiq9", APISecret: "your api secret"})
	r, err := c.GetReport(context.Background(), "4luaKsL2",
		[]string{"2108021054011000095", "2108021059531000096", "2108021100000000097"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("success %d, sending %d, not found %d\n", r.Success, r.Sending, r.NoFound)
	for _, it := range r.Items {
		fmt.Println(it.MsgID, it.Number, it.Status, it.Status.Final(), it.ReceiveTime)
	}
	// Output:
	// success 1, sending 1, not found 1
	// 2108021054011000095 91856321412 delivered true 2021-02-12 09:30:03 +0800 +0800
	// 2108021059531000096 91856321413 sending false 0001-01-01 00:00:00 +0000 UTC
}

// Errors are classified once, in signedapi: a wrong secret is an account
// problem (pause and alert), not something to retry.
func ExampleClient_GetBalance_wrongSecret() {
	vendor := signedapitest.Start(signedapitest.Options{APIKey: "bDqJFiq9", APISecret: "the real secret"})
	defer vendor.Close()

	c := laaffic.New(laaffic.Config{BaseURL: vendor.URL, APIKey: "bDqJFiq9", APISecret: "a stale secret"})
	_, err := c.GetBalance(context.Background())
	fmt.Println(err)
	fmt.Println(errors.Is(err, signedapi.ErrAuth), signedapi.Classify(err))
	// Output:
	// laaffic: getBalance: signedapi: vendor status -1 (authentication error): "Authentication error"
	// true account
}
