package alibaba

import (
	"strings"

	"relay/internal/vendors/confirm"
)

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

type rule struct {
	outcome confirm.Outcome
	meaning string
}

// exact holds the codes decided one by one, in lower case.
var exact = map[string]rule{
	"ok":                      {confirm.Confirmed, "conversion recorded"},
	"signaturenonceused":      {confirm.Transient, "the signature nonce was used before"},
	"signaturedoesnotmatch":   {confirm.Credentials, "the signature does not match: the AccessKey secret is wrong"},
	"incompletesignature":     {confirm.Credentials, "the signature is incomplete"},
	"isp.ram_permission_deny": {confirm.Credentials, "the RAM user may not call the API"},
	// The account, not the event: every call would fail alike, so the
	// vendor is paused with the code as its reason.
	"isv.account_not_exists":     {confirm.Credentials, "the account does not exist"},
	"isv.account_abnormal":       {confirm.Credentials, "the account is abnormal"},
	"account.abnormal":           {confirm.Credentials, "the account is abnormal"},
	"isv.out_of_service":         {confirm.Credentials, "the service is stopped for the account (balance)"},
	"out_of_service":             {confirm.Credentials, "the service is stopped for the account (balance)"},
	"isv.product_un_subscript":   {confirm.Credentials, "the account has not subscribed to Alibaba Cloud communications"},
	"isv.product_unsubscribe":    {confirm.Credentials, "the account has not subscribed to the product"},
	"forbidden_action":           {confirm.Credentials, "the account's API calls are downgraded"},
	"account_not_exists":         {confirm.Credentials, "the account does not exist"},
	"isv.business_limit_control": {confirm.Transient, "over the business flow control"},
	"isv.day_limit_control":      {confirm.Transient, "over the daily limit"},
	"isv.month_limit_control":    {confirm.Transient, "over the monthly limit"},
	"serviceunavailable":         {confirm.Transient, "service temporarily unavailable"},
	"internalerror":              {confirm.Transient, "Alibaba internal error"},
	"unknownerror":               {confirm.Transient, "unknown error"},
}

// prefixes decide the families of codes, first match first.
var prefixes = []struct {
	prefix string
	rule
}{
	// InvalidAccessKeyId.NotFound, .Inactive: the AccessKey.
	{"invalidaccesskeyid", rule{confirm.Credentials, "the AccessKey ID is not valid"}},
	{"invalidsecuritytoken", rule{confirm.Credentials, "the security token is not valid"}},
	// Forbidden.RAM, Forbidden.AccessKeyDisabled, ...: the account may not
	// call the API.
	{"forbidden", rule{confirm.Credentials, "the account may not call the API"}},
	{"invalidtimestamp", rule{confirm.Transient, "x-acs-date refused: the host's clock is off"}},
	// Throttling, Throttling.User, Throttling.Api: over the rate.
	{"throttling", rule{confirm.Transient, "request rate over the limit"}},
	{"serviceunavailable", rule{confirm.Transient, "service temporarily unavailable"}},
	{"internalerror", rule{confirm.Transient, "Alibaba internal error"}},
	// isp.*: the platform's own faults (isp.SYSTEM_ERROR, isp.GATEWAY_ERROR).
	{"isp.", rule{confirm.Transient, "Alibaba platform error"}},
	// isv.*: business errors about this request, such as
	// isv.INVALID_PARAMETERS.
	{"isv.", rule{confirm.Permanent, "business error"}},
	{"missing", rule{confirm.Permanent, "missing parameter"}},
	{"invalid", rule{confirm.Permanent, "invalid parameter"}},
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

// Outcome is what an Alibaba code means in relay's terms: OK confirmed;
// InvalidAccessKeyId.*, SignatureDoesNotMatch, Forbidden.* and the
// account-wide isv codes (account missing or abnormal, out of service,
// product not subscribed, RAM permission denied) credentials (the vendor
// is paused); other isv.* business errors, Missing*, Invalid* permanent;
// Throttling*, ServiceUnavailable, InternalError, isp.*, the flow-control
// isv codes, InvalidTimeStamp.* and SignatureNonceUsed transient; any
// other code transient (retried up to the attempt budget, then failed
// with the code kept).
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
