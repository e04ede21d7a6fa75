package aws_test

import (
	"context"
	"fmt"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"

	"relay/internal/vendors/aws"
	"relay/internal/vendors/aws/awstest"
	"relay/internal/vendors/confirm"
)

// Confirm sets message feedback to RECEIVED. AWS answers a repeat as the
// first call, and a throttled call with ThrottlingException, which relay
// retries on its own schedule.
func ExampleClient_Confirm() {
	fake := awstest.Start(awstest.Options{})
	defer fake.Close()

	client, err := aws.New(aws.Config{
		Region:   "us-east-1",
		Endpoint: fake.URL(), // RELAY_AWS_ENDPOINT; unset in production
		// Production leaves Credentials unset: the SDK's default chain.
		Credentials: awssdk.CredentialsProviderFunc(func(context.Context) (awssdk.Credentials, error) {
			return awssdk.Credentials{AccessKeyID: awstest.AccessKeyID, SecretAccessKey: awstest.SecretAccessKey}, nil
		}),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	conv := confirm.Conversion{MessageID: "0f8a4c2e-6b1d-4e5f-9a3b-7c2d1e0f4a5b", At: time.Now()}
	for range 2 {
		a, err := client.Confirm(context.Background(), conv)
		fmt.Println(a.Outcome, a.Status, a.HTTPStatus, err)
	}
	fake.Exception(conv.MessageID, awstest.Throttling)
	a, err := client.Confirm(context.Background(), conv)
	fmt.Println(a.Outcome, a.Status, a.HTTPStatus, err)
	// Output:
	// confirmed RECEIVED 200 <nil>
	// confirmed RECEIVED 200 <nil>
	// transient ThrottlingException 400 <nil>
}
