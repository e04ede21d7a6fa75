package tencent

import (
	"strings"

	"relay/internal/vendors/confirm"
)

// Codes with a decision of their own. Tencent writes ReportConversion's
// success "OK" in its page and "ok" in its SDK's comment; every code is
// compared without regard to case.
const (
	CodeOK = "OK"
	// CodeSignatureExpire: X-TC-Timestamp is more than 5 minutes from
	// Tencent's clock. The fault is the host's clock, not the credentials:
	// retried, and logged.
	CodeSignatureExpire = "AuthFailure.SignatureExpire"
	// CodeSmsSdkAppIDVerifyFail: the SdkAppId does not belong to the
	// SecretId's account (ReportConversion's own documented code).
	CodeSmsSdkAppIDVerifyFail = "UnauthorizedOperation.SmsSdkAppIdVerifyFail"
	// CodeSendAndRecvFail: Tencent's backend timed out (ReportConversion's
	// own documented code).
	CodeSendAndRecvFail = "InternalError.SendAndRecvFail"
	// CodeRequestLimitExceeded: over the API's rate (1,000 requests a
	// second for ReportConversion).
	CodeRequestLimitExceeded = "RequestLimitExceeded"
)

type rule struct {
	outcome confirm.Outcome
	meaning string
}

// exact holds the codes decided one by one, in lower case.
var exact = map[string]rule{
	"ok":                          {confirm.Confirmed, "conversion recorded"},
	"authfailure.signatureexpire": {confirm.Transient, "signature expired: the host's clock is more than 5 minutes off"},
	"unauthorizedoperation.smssdkappidverifyfail": {confirm.Credentials, "the SmsSdkAppId does not belong to the SecretId's account"},
	"invalidparametervalue.sdkappidnotexist":      {confirm.Credentials, "the SmsSdkAppId does not exist"},
	"internalerror.sendandrecvfail":               {confirm.Transient, "Tencent's backend timed out"},
	// The configuration, not the event, is wrong: every call would fail
	// alike, so the vendor is paused with the code as its reason.
	"unsupportedregion":                      {confirm.Credentials, "the API is not served in X-TC-Region (RELAY_TENCENT_REGION)"},
	"unsupportedoperation.unsupportedregion": {confirm.Credentials, "the API is not served in X-TC-Region (RELAY_TENCENT_REGION)"},
	"invalidaction":                          {confirm.Credentials, "the action is not served at this endpoint"},
	"nosuchversion":                          {confirm.Credentials, "the API version is not served at this endpoint"},
	"nosuchproduct":                          {confirm.Credentials, "the product is not served at this endpoint"},
	"ipinblacklist":                          {confirm.Credentials, "the caller's IP is in the account's blacklist"},
	"ipnotinwhitelist":                       {confirm.Credentials, "the caller's IP is not in the account's whitelist"},
	"serviceunavailable":                     {confirm.Transient, "service temporarily unavailable"},
	"resourceunavailable":                    {confirm.Transient, "resource temporarily unavailable"},
	"resourceinsufficient":                   {confirm.Transient, "resource insufficient"},
	"requestsizelimitexceeded":               {confirm.Permanent, "request too large"},
}

// prefixes decide the families of codes, first match first.
var prefixes = []struct {
	prefix string
	rule
}{
	// AuthFailure.SecretIdNotFound, .SignatureFailure, .InvalidSecretId,
	// .UnauthorizedOperation, ...: the credentials or the account.
	{"authfailure", rule{confirm.Credentials, "authentication failed"}},
	// RequestPermissionDeny, SdkAppIdIsDisabled, ServiceSuspendDueToArrears,
	// RequestIpNotInWhitelist, and the feature not allow-listed: the
	// account may not use the API.
	{"unauthorizedoperation", rule{confirm.Credentials, "the account may not use this API"}},
	{"requestlimitexceeded", rule{confirm.Transient, "request rate over the limit"}},
	{"limitexceeded", rule{confirm.Transient, "quota exceeded"}},
	{"internalerror", rule{confirm.Transient, "Tencent internal error"}},
	// InvalidParameter and InvalidParameterValue.*: the SerialNo or the
	// time is one Tencent does not accept.
	{"invalidparameter", rule{confirm.Permanent, "invalid parameter"}},
	{"missingparameter", rule{confirm.Permanent, "missing parameter"}},
	{"unknownparameter", rule{confirm.Permanent, "unknown parameter"}},
	{"failedoperation", rule{confirm.Permanent, "operation failed"}},
	{"resourcenotfound", rule{confirm.Permanent, "resource not found"}},
	{"unsupportedoperation", rule{confirm.Permanent, "unsupported operation"}},
	{"invalidrequest", rule{confirm.Permanent, "invalid request"}},
}

func lookup(code string) (rule, bool) {
	lc := strings.ToLower(code)
	if r, ok := exact[lc]; ok {
		return r, true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(lc, p.prefix) {
			return p.rule, true
		}
	}
	return rule{}, false
}

// Outcome is what a Tencent code means in relay's terms: OK confirmed;
// AuthFailure.* (but SignatureExpire), UnauthorizedOperation.*, an unknown
// SdkAppId and a region, action or version not served credentials (the
// vendor is paused); InvalidParameter*, MissingParameter, FailedOperation.*
// and the like permanent; RequestLimitExceeded*, InternalError.*,
// LimitExceeded*, SignatureExpire transient; any other code transient
// (retried up to the attempt budget, then failed with the code kept).
func Outcome(code string) confirm.Outcome {
	if r, ok := lookup(code); ok {
		return r.outcome
	}
	return confirm.Transient
}

// Meaning is the documented meaning of a code, for an answer that gave no
// message of its own.
func Meaning(code string) string {
	if r, ok := lookup(code); ok {
		return r.meaning
	}
	return "undocumented code"
}
