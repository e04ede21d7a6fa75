package tencent

import "relay/internal/vendors/confirm"

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

// codes are the codes decided one by one (in lower case), then the
// families by prefix, first match first.
var codes = confirm.Codes{Exact: map[string]confirm.Rule{
	"ok":                          {Outcome: confirm.Confirmed, Meaning: "conversion recorded"},
	"authfailure.signatureexpire": {Outcome: confirm.Transient, Meaning: "signature expired: the host's clock is more than 5 minutes off"},
	"unauthorizedoperation.smssdkappidverifyfail": {Outcome: confirm.Credentials, Meaning: "the SmsSdkAppId does not belong to the SecretId's account"},
	"invalidparametervalue.sdkappidnotexist":      {Outcome: confirm.Credentials, Meaning: "the SmsSdkAppId does not exist"},
	"internalerror.sendandrecvfail":               {Outcome: confirm.Transient, Meaning: "Tencent's backend timed out"},
	// The configuration, not the event, is wrong: every call would fail
	// alike, so the vendor is paused with the code as its reason.
	"unsupportedregion":                      {Outcome: confirm.Credentials, Meaning: "the API is not served in X-TC-Region (RELAY_TENCENT_REGION)"},
	"unsupportedoperation.unsupportedregion": {Outcome: confirm.Credentials, Meaning: "the API is not served in X-TC-Region (RELAY_TENCENT_REGION)"},
	"invalidaction":                          {Outcome: confirm.Credentials, Meaning: "the action is not served at this endpoint"},
	"nosuchversion":                          {Outcome: confirm.Credentials, Meaning: "the API version is not served at this endpoint"},
	"nosuchproduct":                          {Outcome: confirm.Credentials, Meaning: "the product is not served at this endpoint"},
	"ipinblacklist":                          {Outcome: confirm.Credentials, Meaning: "the caller's IP is in the account's blacklist"},
	"ipnotinwhitelist":                       {Outcome: confirm.Credentials, Meaning: "the caller's IP is not in the account's whitelist"},
	"serviceunavailable":                     {Outcome: confirm.Transient, Meaning: "service temporarily unavailable"},
	"resourceunavailable":                    {Outcome: confirm.Transient, Meaning: "resource temporarily unavailable"},
	"resourceinsufficient":                   {Outcome: confirm.Transient, Meaning: "resource insufficient"},
	"requestsizelimitexceeded":               {Outcome: confirm.Permanent, Meaning: "request too large"},
}, Prefixes: prefixes}

// prefixes decide the families of codes, first match first.
var prefixes = []confirm.Prefix{
	// AuthFailure.SecretIdNotFound, .SignatureFailure, .InvalidSecretId,
	// .UnauthorizedOperation, ...: the credentials or the account.
	{Prefix: "authfailure", Rule: confirm.Rule{Outcome: confirm.Credentials, Meaning: "authentication failed"}},
	// RequestPermissionDeny, SdkAppIdIsDisabled, ServiceSuspendDueToArrears,
	// RequestIpNotInWhitelist, and the feature not allow-listed: the
	// account may not use the API.
	{Prefix: "unauthorizedoperation", Rule: confirm.Rule{Outcome: confirm.Credentials, Meaning: "the account may not use this API"}},
	{Prefix: "requestlimitexceeded", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "request rate over the limit"}},
	{Prefix: "limitexceeded", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "quota exceeded"}},
	{Prefix: "internalerror", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "Tencent internal error"}},
	// InvalidParameter and InvalidParameterValue.*: the SerialNo or the
	// time is one Tencent does not accept.
	{Prefix: "invalidparameter", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "invalid parameter"}},
	{Prefix: "missingparameter", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "missing parameter"}},
	{Prefix: "unknownparameter", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "unknown parameter"}},
	{Prefix: "failedoperation", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "operation failed"}},
	{Prefix: "resourcenotfound", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "resource not found"}},
	{Prefix: "unsupportedoperation", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "unsupported operation"}},
	{Prefix: "invalidrequest", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "invalid request"}},
}

// Outcome is what a Tencent code means in relay's terms: OK confirmed;
// AuthFailure.* (but SignatureExpire), UnauthorizedOperation.*, an unknown
// SdkAppId and a region, action or version not served credentials (the
// vendor is paused); InvalidParameter*, MissingParameter, FailedOperation.*
// and the like permanent; RequestLimitExceeded*, InternalError.*,
// LimitExceeded*, SignatureExpire transient; any other code transient
// (retried up to the attempt budget, then failed with the code kept).
func Outcome(code string) confirm.Outcome { return codes.Outcome(code) }

// Meaning is the documented meaning of a code, for an answer that gave no
// message of its own.
func Meaning(code string) string { return codes.Meaning(code) }
