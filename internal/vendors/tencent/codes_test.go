package tencent_test

import (
	"testing"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/tencent"
)

// TestOutcomes classifies ReportConversion's documented codes (its own,
// InternalError.SendAndRecvFail and UnauthorizedOperation.SmsSdkAppIdVerifyFail),
// the API 3.0 common error codes, and the SMS product's families.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]confirm.Outcome{
		"OK": confirm.Confirmed, "ok": confirm.Confirmed, "Ok": confirm.Confirmed,

		"AuthFailure.SignatureExpire": confirm.Transient, "authfailure.signatureexpire": confirm.Transient,
		"AuthFailure.SignatureFailure": confirm.Credentials, "AuthFailure.SecretIdNotFound": confirm.Credentials,
		"AuthFailure.InvalidSecretId": confirm.Credentials, "AuthFailure.InvalidAuthorization": confirm.Credentials,
		"AuthFailure.MFAFailure": confirm.Credentials, "AuthFailure.TokenFailure": confirm.Credentials,
		"AuthFailure.UnauthorizedOperation": confirm.Credentials, "AuthFailure": confirm.Credentials,
		"UnauthorizedOperation.SmsSdkAppIdVerifyFail":      confirm.Credentials,
		"UnauthorizedOperation.RequestPermissionDeny":      confirm.Credentials,
		"UnauthorizedOperation.SdkAppIdIsDisabled":         confirm.Credentials,
		"UnauthorizedOperation.ServiceSuspendDueToArrears": confirm.Credentials,
		"UnauthorizedOperation.RequestIpNotInWhitelist":    confirm.Credentials,
		"UnauthorizedOperation":                            confirm.Credentials,
		"InvalidParameterValue.SdkAppIdNotExist":           confirm.Credentials,
		"UnsupportedRegion":                                confirm.Credentials, "UnsupportedOperation.UnsupportedRegion": confirm.Credentials,
		"InvalidAction": confirm.Credentials, "NoSuchVersion": confirm.Credentials, "NoSuchProduct": confirm.Credentials,
		"IpInBlacklist": confirm.Credentials, "IpNotInWhitelist": confirm.Credentials,

		"InvalidParameter": confirm.Permanent, "InvalidParameter.InvalidParameters": confirm.Permanent,
		"InvalidParameterValue": confirm.Permanent, "InvalidParameterValue.IncorrectPhoneNumber": confirm.Permanent,
		"MissingParameter": confirm.Permanent, "UnknownParameter": confirm.Permanent,
		"FailedOperation": confirm.Permanent, "FailedOperation.OtherError": confirm.Permanent,
		"FailedOperation.JsonParseFail": confirm.Permanent, "ResourceNotFound": confirm.Permanent,
		"UnsupportedOperation": confirm.Permanent, "InvalidRequest": confirm.Permanent,
		"RequestSizeLimitExceeded": confirm.Permanent,

		"RequestLimitExceeded": confirm.Transient, "RequestLimitExceeded.UinLimitExceeded": confirm.Transient,
		"RequestLimitExceeded.IPLimitExceeded": confirm.Transient, "RequestLimitExceeded.GlobalRegionUinLimitExceeded": confirm.Transient,
		"InternalError": confirm.Transient, "InternalError.SendAndRecvFail": confirm.Transient,
		"InternalError.Timeout": confirm.Transient, "InternalError.OtherError": confirm.Transient,
		"LimitExceeded": confirm.Transient, "ServiceUnavailable": confirm.Transient,
		"ResourceUnavailable": confirm.Transient, "ResourceInsufficient": confirm.Transient,

		"SomethingNew": confirm.Transient, "": confirm.Transient,
	} {
		if got := tencent.Outcome(code); got != want {
			t.Errorf("%q: %s, want %s", code, got, want)
		}
	}
	if m := tencent.Meaning("NoSuchThing.AtAll"); m != "undocumented code" {
		t.Errorf("an unknown code means %q", m)
	}
}
