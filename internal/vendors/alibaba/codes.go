package alibaba

import "relay/internal/vendors/confirm"

// Codes with a decision of their own. Codes are compared without regard
// to case.
const (
	CodeOK = "OK"
	// CodeTimestampExpired: x-acs-date is more than 15 minutes from
	// Alibaba's clock; the host's clock is at fault: retried, and logged.
	CodeTimestampExpired = "InvalidTimeStamp.Expired"
	// CodeSignatureNonceUsed: the nonce was seen before; the next call
	// draws another.
	CodeSignatureNonceUsed = "SignatureNonceUsed"
	// CodeSignatureDoesNotMatch: the AccessKey secret is not the one
	// Alibaba holds.
	CodeSignatureDoesNotMatch = "SignatureDoesNotMatch"
)

// codes are the codes decided one by one (in lower case), then the
// families by prefix, first match first.
var codes = confirm.Codes{Exact: map[string]confirm.Rule{
	"ok":                      {Outcome: confirm.Confirmed, Meaning: "conversion recorded"},
	"signaturenonceused":      {Outcome: confirm.Transient, Meaning: "the signature nonce was used before"},
	"signaturedoesnotmatch":   {Outcome: confirm.Credentials, Meaning: "the signature does not match: the AccessKey secret is wrong"},
	"incompletesignature":     {Outcome: confirm.Credentials, Meaning: "the signature is incomplete"},
	"isp.ram_permission_deny": {Outcome: confirm.Credentials, Meaning: "the RAM user may not call the API"},
	// The account, not the event: every call would fail alike, so the
	// vendor is paused with the code as its reason.
	"isv.account_not_exists":     {Outcome: confirm.Credentials, Meaning: "the account does not exist"},
	"isv.account_abnormal":       {Outcome: confirm.Credentials, Meaning: "the account is abnormal"},
	"account.abnormal":           {Outcome: confirm.Credentials, Meaning: "the account is abnormal"},
	"isv.out_of_service":         {Outcome: confirm.Credentials, Meaning: "the service is stopped for the account (balance)"},
	"out_of_service":             {Outcome: confirm.Credentials, Meaning: "the service is stopped for the account (balance)"},
	"isv.product_un_subscript":   {Outcome: confirm.Credentials, Meaning: "the account has not subscribed to Alibaba Cloud communications"},
	"isv.product_unsubscribe":    {Outcome: confirm.Credentials, Meaning: "the account has not subscribed to the product"},
	"forbidden_action":           {Outcome: confirm.Credentials, Meaning: "the account's API calls are downgraded"},
	"account_not_exists":         {Outcome: confirm.Credentials, Meaning: "the account does not exist"},
	"isv.business_limit_control": {Outcome: confirm.Transient, Meaning: "over the business flow control"},
	"isv.day_limit_control":      {Outcome: confirm.Transient, Meaning: "over the daily limit"},
	"isv.month_limit_control":    {Outcome: confirm.Transient, Meaning: "over the monthly limit"},
	"serviceunavailable":         {Outcome: confirm.Transient, Meaning: "service temporarily unavailable"},
	"internalerror":              {Outcome: confirm.Transient, Meaning: "Alibaba internal error"},
	"unknownerror":               {Outcome: confirm.Transient, Meaning: "unknown error"},
}, Prefixes: prefixes}

// prefixes decide the families of codes, first match first.
var prefixes = []confirm.Prefix{
	// InvalidAccessKeyId.NotFound, .Inactive: the AccessKey.
	{Prefix: "invalidaccesskeyid", Rule: confirm.Rule{Outcome: confirm.Credentials, Meaning: "the AccessKey ID is not valid"}},
	{Prefix: "invalidsecuritytoken", Rule: confirm.Rule{Outcome: confirm.Credentials, Meaning: "the security token is not valid"}},
	// Forbidden.RAM, Forbidden.AccessKeyDisabled, ...: the account may not
	// call the API.
	{Prefix: "forbidden", Rule: confirm.Rule{Outcome: confirm.Credentials, Meaning: "the account may not call the API"}},
	{Prefix: "invalidtimestamp", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "x-acs-date refused: the host's clock is off"}},
	// Throttling, Throttling.User, Throttling.Api: over the rate.
	{Prefix: "throttling", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "request rate over the limit"}},
	{Prefix: "serviceunavailable", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "service temporarily unavailable"}},
	{Prefix: "internalerror", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "Alibaba internal error"}},
	// isp.*: the platform's own faults (isp.SYSTEM_ERROR, isp.GATEWAY_ERROR).
	{Prefix: "isp.", Rule: confirm.Rule{Outcome: confirm.Transient, Meaning: "Alibaba platform error"}},
	// isv.*: business errors about this request, such as
	// isv.INVALID_PARAMETERS.
	{Prefix: "isv.", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "business error"}},
	{Prefix: "missing", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "missing parameter"}},
	{Prefix: "invalid", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "invalid parameter"}},
}

// Outcome is what an Alibaba code means in relay's terms: OK confirmed;
// InvalidAccessKeyId.*, SignatureDoesNotMatch, Forbidden.* and the
// account-wide isv codes (account missing or abnormal, out of service,
// product not subscribed, RAM permission denied) credentials (the vendor
// is paused); other isv.* business errors, Missing*, Invalid* permanent;
// Throttling*, ServiceUnavailable, InternalError, isp.*, the flow-control
// isv codes, InvalidTimeStamp.* and SignatureNonceUsed transient; any
// other code transient (retried up to the attempt budget, then failed
// with the code kept).
func Outcome(code string) confirm.Outcome { return codes.Outcome(code) }

// Meaning is the documented meaning of a code, for an answer that gave no
// message of its own.
func Meaning(code string) string { return codes.Meaning(code) }
