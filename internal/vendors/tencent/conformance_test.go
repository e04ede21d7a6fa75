package tencent_test

import (
	"fmt"
	"testing"
	"time"

	"relay/internal/vendors/confirm/confirmtest"
	"relay/internal/vendors/tencent"
	"relay/internal/vendors/tencent/tencenttest"
)

const (
	secretID  = "AKIDconformanceSECRETID0123456789"
	secretKey = "conformanceSECRETKEY0123456789ab"
	appID     = "1400006666"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "tencent",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return tencent.New(tencent.Config{BaseURL: baseURL, SecretID: secretID, SecretKey: secretKey,
				SmsSdkAppID: appID, Region: "ap-singapore", Timeout: timeout})
		},
		Fake: func(t *testing.T) confirmtest.Fake {
			return tencenttest.NewServer(t, tencenttest.Options{SecretID: secretID, SecretKey: secretKey,
				SmsSdkAppID: appID, Region: "ap-singapore"})
		},
		MessageID: func(n int) string { return fmt.Sprintf("5000:10457106691570536578494996%02d", n) },
		Secrets:   []string{secretID, secretKey},
		// Tencent documents no Retry-After, nor an equivalent.
		NoRetryAfter: true,
	})
}
