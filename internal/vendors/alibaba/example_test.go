package alibaba_test

import (
	"context"
	"fmt"
	"time"

	"relay/internal/vendors/alibaba"
	"relay/internal/vendors/alibaba/alibabatest"
	"relay/internal/vendors/confirm"
)

// Confirm reports that message 1008030300 converted; the fake checks the
// ACS3 signature as Alibaba would.
func ExampleClient_Confirm() {
	fake := alibabatest.Start(alibabatest.Options{AccessKeyID: "LTAIexample", AccessKeySecret: "example-secret"})
	defer fake.Close()
	client := alibaba.New(alibaba.Config{
		BaseURL:         fake.URL(), // https://dysmsapi.aliyuncs.com in production
		AccessKeyID:     "LTAIexample",
		AccessKeySecret: "example-secret",
	})
	a, err := client.Confirm(context.Background(), confirm.Conversion{MessageID: "1008030300", At: time.Now().Add(-time.Minute)})
	fmt.Println(a.Outcome, a.Status, a.HTTPStatus, err)
	fmt.Println(fake.Calls("1008030300"), "call,", len(fake.Problems()), "problems")
	// Output:
	// confirmed OK 200 <nil>
	// 1 call, 0 problems
}
