package tencent_test

import (
	"context"
	"fmt"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/tencent"
	"relay/internal/vendors/tencent/tencenttest"
)

// Confirm reports that the message with SerialNo 5000:1045710669157053657849499619
// converted; the fake checks the TC3 signature as Tencent would.
func ExampleClient_Confirm() {
	fake := tencenttest.Start(tencenttest.Options{SecretID: "AKIDexample", SecretKey: "example-key", SmsSdkAppID: "1400006666"})
	defer fake.Close()
	client := tencent.New(tencent.Config{
		BaseURL:     fake.URL(), // https://sms.tencentcloudapi.com in production
		SecretID:    "AKIDexample",
		SecretKey:   "example-key",
		SmsSdkAppID: "1400006666",
	})
	a, err := client.Confirm(context.Background(), confirm.Conversion{
		MessageID: "5000:1045710669157053657849499619",
		At:        time.Now().Add(-time.Minute),
	})
	fmt.Println(a.Outcome, a.Status, err)
	fmt.Println(fake.Calls("5000:1045710669157053657849499619"), "call,", len(fake.Problems()), "problems")
	// Output:
	// confirmed Ok <nil>
	// 1 call, 0 problems
}
