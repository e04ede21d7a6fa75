package tencent

import "testing"

// The worked example of Tencent Cloud's "Signature v3" page (API 3.0,
// TC3-HMAC-SHA256): CVM DescribeInstances in ap-guangzhou at timestamp
// 1551113065, signing content-type and host. The page has carried two
// versions of its example keys; each gives its own published signature
// from the same canonical request and string to sign.
const (
	examplePayload          = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`
	exampleHashedPayload    = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
	exampleHashedCanonical  = "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
	exampleCanonicalRequest = "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n" + exampleHashedPayload
	exampleStringToSign     = "TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n" + exampleHashedCanonical
)

func exampleSigning() signing {
	return signing{
		method: "POST", canonicalURI: "/",
		headers:   []header{{"content-type", "application/json; charset=utf-8"}, {"host", "cvm.tencentcloudapi.com"}},
		payload:   []byte(examplePayload),
		timestamp: 1551113065, service: "cvm",
	}
}

func TestSignatureV3WorkedExample(t *testing.T) {
	t.Parallel()
	s := exampleSigning()
	if got := sha256Hex(s.payload); got != exampleHashedPayload {
		t.Errorf("HashedRequestPayload %s, want %s", got, exampleHashedPayload)
	}
	if got := s.canonicalRequest(); got != exampleCanonicalRequest {
		t.Errorf("CanonicalRequest\n%q, want\n%q", got, exampleCanonicalRequest)
	}
	if got := s.stringToSign(); got != exampleStringToSign {
		t.Errorf("StringToSign\n%q, want\n%q", got, exampleStringToSign)
	}
	for _, c := range []struct{ secretID, secretKey, authorization string }{
		// The English page's example: SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE.
		{"AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
			"TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"},
		// The current page's example, whose keys end in seven asterisks.
		{"AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******", "Gu5t9xGARNpq86cd98joQYCN3*******",
			"TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3*******/2019-02-25/cvm/tc3_request, SignedHeaders=content-type;host, Signature=2230eefd229f582d8b1b891af7107b91597240707d778ab3738f756258d7652c"},
	} {
		if got := s.authorization(c.secretID, c.secretKey); got != c.authorization {
			t.Errorf("Authorization\n%s, want\n%s", got, c.authorization)
		}
	}
}

// TestSignatureDateIsUTC holds the date to UTC: the page's own warning is
// that 1551113065 is 2019-02-26 in UTC+8 but must sign as 2019-02-25.
func TestSignatureDateIsUTC(t *testing.T) {
	t.Parallel()
	if got := exampleSigning().date(); got != "2019-02-25" {
		t.Errorf("date %s, want 2019-02-25", got)
	}
}
