package liasmart_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// Confirm tells CTrack that message 4134 converted. The first call answers
// 1000; any repeat answers 1009, which relay counts as a success too.
func ExampleClient_Confirm() {
	fake := httptest.NewServer(liasmarttest.New(liasmarttest.Options{}))
	defer fake.Close()

	client := liasmart.New(liasmart.Config{
		BaseURL:     fake.URL, // https://api.liasmart.com in production
		APIID:       "API4623444906",
		APIPassword: "password@123",
	})
	conv := confirm.Conversion{MessageID: "4134", At: time.Now()}
	for range 2 {
		a, err := client.Confirm(context.Background(), conv)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println(a.Status, a.Meaning, "->", a.Outcome)
	}
	// Output:
	// 1000 OK -> confirmed
	// 1009 message_id already updated -> already_confirmed
}

// Call is the raw exchange: CTrack's ErrorCode as it answered.
func ExampleClient_Call() {
	fake := httptest.NewServer(liasmarttest.New(liasmarttest.Options{}))
	defer fake.Close()

	client := liasmart.New(liasmart.Config{BaseURL: fake.URL, APIID: "API4623444906", APIPassword: "password@123"})
	res, err := client.Call(context.Background(), "4134")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(res.Code, res.Code.Meaning())
	// Output:
	// 1000 OK
}
