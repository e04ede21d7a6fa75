package alibaba_test

import (
	"testing"

	"relay/internal/vendors/alibaba"
	"relay/internal/vendors/confirm"
)

// TestOutcomes classifies SmsConversionIntl's success, the RPC gateway's
// common codes and the SMS product's isv/isp codes.
func TestOutcomes(t *testing.T) {
	t.Parallel()
	for code, want := range map[string]confirm.Outcome{
		"OK": confirm.Confirmed, "ok": confirm.Confirmed,

		"InvalidAccessKeyId.NotFound": confirm.Credentials, "InvalidAccessKeyId.Inactive": confirm.Credentials,
		"InvalidAccessKeyId": confirm.Credentials, "SignatureDoesNotMatch": confirm.Credentials,
		"IncompleteSignature": confirm.Credentials, "InvalidSecurityToken.Expired": confirm.Credentials,
		"Forbidden": confirm.Credentials, "Forbidden.RAM": confirm.Credentials, "Forbidden.AccessKeyDisabled": confirm.Credentials,
		"isp.RAM_PERMISSION_DENY": confirm.Credentials, "isv.ACCOUNT_NOT_EXISTS": confirm.Credentials,
		"isv.ACCOUNT_ABNORMAL": confirm.Credentials, "Account.Abnormal": confirm.Credentials,
		"isv.OUT_OF_SERVICE": confirm.Credentials, "OUT_OF_SERVICE": confirm.Credentials,
		"isv.PRODUCT_UN_SUBSCRIPT": confirm.Credentials, "isv.PRODUCT_UNSUBSCRIBE": confirm.Credentials,
		"FORBIDDEN_ACTION": confirm.Credentials, "ACCOUNT_NOT_EXISTS": confirm.Credentials,

		"isv.INVALID_PARAMETERS": confirm.Permanent, "isv.SMS_CONTENT_ILLEGAL": confirm.Permanent,
		"isv.MOBILE_NUMBER_ILLEGAL": confirm.Permanent, "MissingMessageId": confirm.Permanent,
		"MissingParameter": confirm.Permanent, "InvalidParameter": confirm.Permanent,
		"InvalidAction.NotFound": confirm.Permanent,

		"Throttling": confirm.Transient, "Throttling.User": confirm.Transient, "Throttling.Api": confirm.Transient,
		"ServiceUnavailable": confirm.Transient, "InternalError": confirm.Transient, "UnknownError": confirm.Transient,
		"isp.SYSTEM_ERROR": confirm.Transient, "isp.GATEWAY_ERROR": confirm.Transient,
		"isv.BUSINESS_LIMIT_CONTROL": confirm.Transient, "isv.DAY_LIMIT_CONTROL": confirm.Transient,
		"isv.MONTH_LIMIT_CONTROL": confirm.Transient, "InvalidTimeStamp.Expired": confirm.Transient,
		"InvalidTimeStamp.Format": confirm.Transient, "SignatureNonceUsed": confirm.Transient,

		"SomethingNew": confirm.Transient, "": confirm.Transient,
	} {
		if got := alibaba.Outcome(code); got != want {
			t.Errorf("%q: %s, want %s", code, got, want)
		}
	}
	if m := alibaba.Meaning("NoSuchThing"); m != "undocumented code" {
		t.Errorf("an unknown code means %q", m)
	}
}
