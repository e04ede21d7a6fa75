package awstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"relay/internal/vendors/aws/awstest"
)

// The key pair and scope of AWS's Signature Version 4 test suite.
const (
	suiteKey    = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteDate   = "20150830T123600Z"
)

// TestVerifyTheSuitesVectors: the fake's verifier accepts AWS's published
// get-vanilla and post-vanilla requests with their published signatures,
// and nothing else.
func TestVerifyTheSuitesVectors(t *testing.T) {
	t.Parallel()
	s := awstest.Signing{AccessKeyID: suiteKey, SecretAccessKey: suiteSecret, Region: "us-east-1", Service: "service"}
	for _, v := range []struct{ name, method, sig string }{
		{"get-vanilla", http.MethodGet, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", http.MethodPost, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
	} {
		r, _ := http.NewRequest(v.method, "https://example.amazonaws.com/", nil)
		r.Header.Set("X-Amz-Date", suiteDate)
		r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="+v.sig)
		if _, err := s.Verify(r, nil); err != nil {
			t.Errorf("%s: %v", v.name, err)
		}
		r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), v.sig[:4], "0000", 1))
		if _, err := s.Verify(r, nil); err == nil {
			t.Errorf("%s: a changed signature passed", v.name)
		}
	}
}

// TestVerifyAgreesWithTheSDKSigner: a request the SDK's own signer signs
// passes; one with its body, target, scope or key changed does not.
func TestVerifyAgreesWithTheSDKSigner(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	s := awstest.Signing{AccessKeyID: awstest.AccessKeyID, SecretAccessKey: awstest.SecretAccessKey,
		Region: "eu-west-1", Service: "sms-voice", Now: func() time.Time { return now }}
	body := []byte(`{"MessageId":"m-1","MessageFeedbackStatus":"RECEIVED"}`)
	sign := func(region, service, secret string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "https://sms-voice.eu-west-1.amazonaws.com/", bytes.NewReader(body))
		r.Header.Set("Content-Type", awstest.ContentType)
		r.Header.Set("X-Amz-Target", awstest.Target)
		sum := sha256.Sum256(body)
		creds := awssdk.Credentials{AccessKeyID: awstest.AccessKeyID, SecretAccessKey: secret}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), service, region, now); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if _, err := s.Verify(sign("eu-west-1", "sms-voice", awstest.SecretAccessKey), body); err != nil {
		t.Fatalf("the SDK's signature: %v", err)
	}
	for name, r := range map[string]*http.Request{
		"region":  sign("us-east-1", "sms-voice", awstest.SecretAccessKey),
		"service": sign("eu-west-1", "sms", awstest.SecretAccessKey),
		"secret":  sign("eu-west-1", "sms-voice", "another-secret"),
	} {
		if _, err := s.Verify(r, body); err == nil {
			t.Errorf("another %s passed", name)
		}
	}
	r := sign("eu-west-1", "sms-voice", awstest.SecretAccessKey)
	if _, err := s.Verify(r, []byte(`{"MessageId":"m-2","MessageFeedbackStatus":"RECEIVED"}`)); err == nil {
		t.Errorf("another body passed")
	}
	r.Header.Set("X-Amz-Target", "PinpointSMSVoiceV2.SendTextMessage")
	if _, err := s.Verify(r, body); err == nil {
		t.Errorf("another target passed")
	}
	late := s
	late.Now = func() time.Time { return now.Add(16 * time.Minute) }
	if _, err := late.Verify(sign("eu-west-1", "sms-voice", awstest.SecretAccessKey), body); err == nil {
		t.Errorf("a signature 16 minutes old passed")
	}
}

// TestFakeFindsRequestsOffTheDocumentation: each departure from the
// documented request is a problem, answered as AWS would.
func TestFakeFindsRequestsOffTheDocumentation(t *testing.T) {
	t.Parallel()
	good := `{"MessageId":"m-1","MessageFeedbackStatus":"RECEIVED"}`
	cases := []struct {
		name, method, target, contentType, body string
		status                                  int
	}{
		{"method", http.MethodPut, awstest.Target, awstest.ContentType, good, 404},
		{"target", http.MethodPost, "PinpointSMSVoiceV2.SendTextMessage", awstest.ContentType, good, 404},
		{"content type", http.MethodPost, awstest.Target, "application/json", good, 200},
		{"status FAILED", http.MethodPost, awstest.Target, awstest.ContentType, `{"MessageId":"m-1","MessageFeedbackStatus":"FAILED"}`, 400},
		{"extra field", http.MethodPost, awstest.Target, awstest.ContentType, `{"MessageId":"m-1","MessageFeedbackStatus":"RECEIVED","At":1}`, 400},
		{"bad id", http.MethodPost, awstest.Target, awstest.ContentType, `{"MessageId":"m 1","MessageFeedbackStatus":"RECEIVED"}`, 400},
		{"not JSON", http.MethodPost, awstest.Target, awstest.ContentType, `MessageId=m-1`, 400},
	}
	for _, tc := range cases {
		fake := awstest.New(t, awstest.Options{})
		r, _ := http.NewRequest(tc.method, fake.URL()+"/", strings.NewReader(tc.body))
		r.Header.Set("Content-Type", tc.contentType)
		r.Header.Set("X-Amz-Target", tc.target)
		sum := sha256.Sum256([]byte(tc.body))
		creds := awssdk.Credentials{AccessKeyID: awstest.AccessKeyID, SecretAccessKey: awstest.SecretAccessKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "sms-voice", awstest.Region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || len(fake.Problems()) != 1 {
			t.Errorf("%s: HTTP %d, problems %q; want HTTP %d and one problem", tc.name, resp.StatusCode, fake.Problems(), tc.status)
		}
	}
}
