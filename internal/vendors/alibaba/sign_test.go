package alibaba

import "testing"

// The worked example of Alibaba Cloud's "V3 request syntax and signature
// method" page: ECS RunInstances on ecs.cn-shanghai.aliyuncs.com, POST /
// with the parameters in the query and no body, at 2023-10-26T10:22:32Z,
// nonce 3156853299f313e23d1673dc12e1703d, keys YourAccessKeyId and
// YourAccessKeySecret. The page gives each step's result.
const (
	exampleCanonicalRequest = "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n" +
		"host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\n" +
		"x-acs-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n" +
		"x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\nx-acs-version:2014-05-26\n\n" +
		"host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n" +
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	exampleStringToSign   = "ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259"
	exampleSignature      = "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
	exampleAuthorization  = "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=" + exampleSignature
	exampleCanonicalQuery = "ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai"
)

func TestSignatureV3WorkedExample(t *testing.T) {
	t.Parallel()
	s := signing{
		method: "POST", canonicalURI: "/",
		// Out of order on purpose: the steps sort them.
		query: []param{{"RegionId", "cn-shanghai"}, {"ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}},
		headers: []param{
			{"x-acs-version", "2014-05-26"}, {"Host", "ecs.cn-shanghai.aliyuncs.com"}, {"x-acs-action", "RunInstances"},
			{"x-acs-content-sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
			{"x-acs-date", "2023-10-26T10:22:32Z"}, {"x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"},
		},
	}
	if got := s.canonicalQuery(); got != exampleCanonicalQuery {
		t.Errorf("CanonicalQueryString %q, want %q", got, exampleCanonicalQuery)
	}
	if got := s.canonicalRequest(); got != exampleCanonicalRequest {
		t.Errorf("CanonicalRequest\n%q, want\n%q", got, exampleCanonicalRequest)
	}
	if got := s.stringToSign(); got != exampleStringToSign {
		t.Errorf("StringToSign %q, want %q", got, exampleStringToSign)
	}
	if got := s.signature("YourAccessKeySecret"); got != exampleSignature {
		t.Errorf("Signature %s, want %s", got, exampleSignature)
	}
	if got := s.authorization("YourAccessKeyId", "YourAccessKeySecret"); got != exampleAuthorization {
		t.Errorf("Authorization\n%s, want\n%s", got, exampleAuthorization)
	}
}

// TestPercentEncode holds the page's special characters: a space is %20,
// * is %2A, ~ stays ~.
func TestPercentEncode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a b": "a%20b", "*": "%2A", "~": "~", "AZaz09-_.": "AZaz09-_.", "+/=&:": "%2B%2F%3D%26%3A", "é": "%C3%A9", `"`: "%22",
	} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
