package alibaba_test

import (
	"fmt"
	"testing"
	"time"

	"relay/internal/vendors/alibaba"
	"relay/internal/vendors/alibaba/alibabatest"
	"relay/internal/vendors/confirm/confirmtest"
)

const (
	accessKeyID     = "LTAIconformanceSECRETID01"
	accessKeySecret = "conformanceSECRETkey0123456789"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	confirmtest.Run(t, confirmtest.Vendor{
		Name: "alibaba",
		New: func(baseURL string, timeout time.Duration) confirmtest.Client {
			return alibaba.New(alibaba.Config{BaseURL: baseURL, AccessKeyID: accessKeyID, AccessKeySecret: accessKeySecret, Timeout: timeout})
		},
		Fake: func(t *testing.T) confirmtest.Fake {
			return alibabatest.NewServer(t, alibabatest.Options{AccessKeyID: accessKeyID, AccessKeySecret: accessKeySecret})
		},
		MessageID: func(n int) string { return fmt.Sprintf("10080303%06d", n) },
		Secrets:   []string{accessKeyID, accessKeySecret},
		// Alibaba documents no Retry-After, nor an equivalent.
		NoRetryAfter: true,
	})
}
