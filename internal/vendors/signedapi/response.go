package signedapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"relay/internal/vendors/vendorbody"
)

// WireString is a value the vendors document as a JSON String. A bare JSON
// number is accepted too, as its literal text: family members are known to
// drift between the two, and the literal keeps every digit (no float).
// JSON null reads as "".
type WireString string

// UnmarshalJSON accepts a JSON string, number or null.
func (w *WireString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) == 0:
		return errors.New("empty value")
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*w = WireString(s)
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9'):
		// encoding/json has already checked the literal's syntax.
		*w = WireString(b)
	case string(b) == "null":
		*w = ""
	default:
		return fmt.Errorf("want a string or a number, got %.10s", b)
	}
	return nil
}

// envelope is the part every answer of the family shares.
type envelope struct {
	Status *WireString `json:"status"`
	// Reason is raw so that an odd reason never hides the status.
	Reason json.RawMessage `json:"reason"`
}

// err turns the envelope into nil (status "0") or the typed error, its
// vendor text redacted by r and made safe to keep.
func (e envelope) err(r vendorbody.Redactor) error {
	if e.Status == nil {
		return fmt.Errorf("%w: no status", ErrMalformedResponse)
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(*e.Status)))
	if err != nil {
		return fmt.Errorf("%w: status %q is not an integer", ErrMalformedResponse, r.Text(string(*e.Status), 20))
	}
	if code == CodeOK {
		return nil
	}
	var reason WireString
	_ = json.Unmarshal(e.Reason, &reason) // best effort: the code is what matters
	return &StatusError{Code: code, Reason: r.Text(string(reason), maxReason)}
}

// CheckStatus reads the status envelope of an answer: nil for status "0",
// a *StatusError for any other status, ErrMalformedResponse when the body
// is not a JSON object with a status. Vendor packages call it before
// decoding answers of their own.
func CheckStatus(body []byte) error {
	return checkStatus(body, vendorbody.Redactor{})
}

// checkStatus is CheckStatus with the client's secrets redacted from the
// vendor's text.
func checkStatus(body []byte, r vendorbody.Redactor) error {
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	return e.err(r)
}

// Balance is the getBalance answer, identical for every vendor of the
// family. Amounts are exact decimals: the vendor sends them as strings
// precisely so that no float rounding creeps in.
type Balance struct {
	// Balance is "balance", 实际账户的余额: the real account's balance.
	Balance decimal.Decimal
	// Gift is "gift", 赠送账户余额: the bonus account's balance.
	Gift decimal.Decimal
	// Credit is "credit", 信用额度: the credit line.
	Credit decimal.Decimal
}

// ParseBalance decodes a getBalance answer. A non-zero status gives the
// typed error; a missing or non-decimal amount gives ErrMalformedResponse,
// because reading it as zero would raise a false low-balance alert.
func ParseBalance(body []byte) (Balance, error) {
	// The envelope first, so that a failure answer is reported by its code
	// even if its other fields are odd.
	if err := CheckStatus(body); err != nil {
		return Balance{}, err
	}
	var w struct {
		Balance *WireString `json:"balance"`
		Gift    *WireString `json:"gift"`
		Credit  *WireString `json:"credit"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Balance{}, fmt.Errorf("%w: %w", ErrMalformedResponse, err)
	}
	var b Balance
	var err error
	if b.Balance, err = parseAmount("balance", w.Balance); err != nil {
		return Balance{}, err
	}
	if b.Gift, err = parseAmount("gift", w.Gift); err != nil {
		return Balance{}, err
	}
	if b.Credit, err = parseAmount("credit", w.Credit); err != nil {
		return Balance{}, err
	}
	return b, nil
}

// maxAmountLen bounds an amount's text; real balances have a few dozen
// characters at most, and unbounded digits only cost memory.
const maxAmountLen = 64

// parseAmount accepts plain decimal notation only ("-12.50"): exponents,
// signs other than a leading minus, spaces, NaN and Inf are not what the
// vendor documents and would hide a changed answer.
func parseAmount(field string, v *WireString) (decimal.Decimal, error) {
	if v == nil {
		return decimal.Decimal{}, fmt.Errorf("%w: no %s", ErrMalformedResponse, field)
	}
	s := string(*v)
	if !isPlainDecimal(s) {
		return decimal.Decimal{}, fmt.Errorf("%w: %s %q is not a decimal", ErrMalformedResponse, field, truncate(s, 20))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%w: %s: %w", ErrMalformedResponse, field, err)
	}
	return d, nil
}

// isPlainDecimal reports whether s is -?digits(.digits)?, bounded in length.
func isPlainDecimal(s string) bool {
	if len(s) == 0 || len(s) > maxAmountLen {
		return false
	}
	s = strings.TrimPrefix(s, "-")
	intPart, frac, hasDot := strings.Cut(s, ".")
	if !allDigits(intPart) || (hasDot && !allDigits(frac)) {
		return false
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// truncate shortens vendor text kept in errors, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
