package jpush

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Quota is one balance figure: a number of messages, or "not allocated"
// when the vendor answers null. The zero Quota is not allocated, so a
// reading that was never filled in cannot pass for an empty balance.
type Quota struct {
	// Value is the remaining count; 0 when not allocated.
	Value int64
	// Allocated is false when the vendor answered null.
	Allocated bool
}

// QuotaOf returns an allocated quota of v messages.
func QuotaOf(v int64) Quota { return Quota{Value: v, Allocated: true} }

// String returns the count in decimal, or "not allocated".
func (q Quota) String() string {
	if !q.Allocated {
		return "not allocated"
	}
	return strconv.FormatInt(q.Value, 10)
}

// MarshalJSON writes the vendor's form: a number, or null when not
// allocated.
func (q Quota) MarshalJSON() ([]byte, error) {
	if !q.Allocated {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, q.Value, 10), nil
}

// UnmarshalJSON reads null as not allocated and an integer as a count. An
// integer in a string ("9") or with a zero fraction (9.0) is accepted too:
// a gateway re-encoding numbers should not turn into an outage. Anything
// else is an error that does not quote the input.
func (q *Quota) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case string(b) == "null":
		*q = Quota{}
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return errors.New("quota is not a valid JSON string")
		}
		b = []byte(s)
	}
	v, ok := parseInteger(string(b))
	if !ok {
		return errors.New("quota is not an integer or null")
	}
	*q = QuotaOf(v)
	return nil
}

// parseInteger accepts -?[0-9]+ optionally followed by a fraction of
// zeros, within int64. Exponents are refused: "1e999999999" would
// otherwise make a big-number library do real work for a hostile body.
func parseInteger(s string) (int64, bool) {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		frac := s[i+1:]
		if frac == "" || strings.Trim(frac, "0") != "" {
			return 0, false
		}
		s = s[:i]
	}
	digits := strings.TrimPrefix(s, "-")
	if digits == "" {
		return 0, false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// The reading kinds, the seed's field names without their dev_/app_
// prefix, so that both balances export under the same labels.
const (
	KindBalance  = "balance"  // 全类型短信余量: usable by any message type
	KindVoice    = "voice"    // 语音短信余量: voice messages
	KindIndustry = "industry" // 行业短信余量: industry (transactional) messages
	KindMarket   = "market"   // 营销短信余量: marketing messages
)

// kinds is the order of Readings and of the parser's field arrays.
var kinds = [4]string{KindBalance, KindVoice, KindIndustry, KindMarket}

var (
	devFields = [4]string{"dev_balance", "dev_voice", "dev_industry", "dev_market"}
	appFields = [4]string{"app_balance", "app_voice", "app_industry", "app_market"}
)

// Reading is one quota under its kind, for code that exports balances
// without knowing the vendor's fields.
type Reading struct {
	// Kind is one of KindBalance, KindVoice, KindIndustry, KindMarket.
	Kind  string
	Quota Quota
}

// DevBalance is the answer of GET /v1/accounts/dev: the account's
// quotas not allocated to any application. Its JSON form is the vendor's.
type DevBalance struct {
	Balance  Quota `json:"dev_balance"`
	Voice    Quota `json:"dev_voice"`
	Industry Quota `json:"dev_industry"`
	Market   Quota `json:"dev_market"`
}

// Readings lists the four quotas in the order balance, voice, industry,
// market.
func (b DevBalance) Readings() []Reading {
	return readings(b.Balance, b.Voice, b.Industry, b.Market)
}

// AppBalance is the answer of GET /v1/accounts/app: the quotas allocated
// to the application alone. Its JSON form is the vendor's.
type AppBalance struct {
	Balance  Quota `json:"app_balance"`
	Voice    Quota `json:"app_voice"`
	Industry Quota `json:"app_industry"`
	Market   Quota `json:"app_market"`
}

// Readings lists the four quotas in the order balance, voice, industry,
// market.
func (b AppBalance) Readings() []Reading {
	return readings(b.Balance, b.Voice, b.Industry, b.Market)
}

func readings(q ...Quota) []Reading {
	out := make([]Reading, len(q))
	for i := range q {
		out[i] = Reading{Kind: kinds[i], Quota: q[i]}
	}
	return out
}

// parseBalance turns a response into the four quotas named by fields, or
// into an *APIError or an ErrBadResponse error. It is pure so that it can
// be fuzzed; the client redacts APIError.Message afterwards.
//
// A field that is absent reads as not allocated, like null, since some
// encoders drop null members; but a 2xx object without any of the four
// fields is not a balance at all and is ErrBadResponse.
func parseBalance(status int, body []byte, fields [4]string) ([4]Quota, error) {
	var q [4]Quota
	if status < 200 || status > 299 {
		apiErr := parseErrorObject(body)
		if apiErr == nil {
			// A proxy's HTML page or an empty body: the status is all
			// there is to go on.
			apiErr = &APIError{}
		}
		apiErr.HTTPStatus = status
		return q, apiErr
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil || obj == nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return q, fmt.Errorf("%w: invalid JSON at offset %d", ErrBadResponse, syn.Offset)
		}
		return q, fmt.Errorf("%w: body is not a JSON object", ErrBadResponse)
	}
	if apiErr := errorMember(obj["error"]); apiErr != nil {
		apiErr.HTTPStatus = status
		return q, apiErr
	}
	present := 0
	for i, name := range fields {
		raw, ok := obj[name]
		if !ok {
			continue
		}
		present++
		if err := q[i].UnmarshalJSON(raw); err != nil {
			return [4]Quota{}, fmt.Errorf("%w: %s: %w", ErrBadResponse, name, err)
		}
	}
	if present == 0 {
		return q, fmt.Errorf("%w: none of %s present", ErrBadResponse, strings.Join(fields[:], ", "))
	}
	return q, nil
}

// parseErrorObject reads {"error":{"code":N,"message":"..."}}, or returns
// nil when the body is not a JSON object with a non-null "error" member.
func parseErrorObject(body []byte) *APIError {
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return nil
	}
	return errorMember(obj["error"])
}

// errorMember decodes the value of "error", nil when absent or null. The
// code may come as a number or a numeric string; a code that is neither is
// kept as 0 rather than losing the message.
func errorMember(raw json.RawMessage) *APIError {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	apiErr := &APIError{}
	var detail struct {
		Code    json.RawMessage `json:"code"`
		Message json.RawMessage `json:"message"`
	}
	if json.Unmarshal(raw, &detail) != nil {
		// "error": "text" is not the documented shape but still an error
		// answer; keep its text.
		var s string
		if json.Unmarshal(raw, &s) == nil {
			apiErr.Message = s
		}
		return apiErr
	}
	var code Quota
	if code.UnmarshalJSON(detail.Code) == nil && code.Value >= -1<<31 && code.Value <= 1<<31-1 {
		apiErr.Code = int(code.Value)
	}
	var msg string
	if json.Unmarshal(detail.Message, &msg) == nil {
		apiErr.Message = msg
	}
	return apiErr
}
