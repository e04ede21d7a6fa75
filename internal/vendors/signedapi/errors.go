package signedapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Status codes the vendors document for the family (seeds 000 and 001
// getBalance, 002 getReport). Status "0" is success; every other value is a
// failure.
const (
	CodeOK               = 0   // 成功 / "success"
	CodeAuth             = -1  // 认证错误 / "Authentication error"
	CodeIPRestricted     = -2  // Ip访问受限 / "Restricted IP access"
	CodeTimeFormat       = -11 // "Incorrect time format" (getReport only)
	CodeUserLocked       = -13 // 用户被锁定 (getBalance only)
	CodeFieldEmpty       = -14 // "Field is empty or query ID is abnormal" (getReport only)
	CodeTimestampExpired = -16 // 超出时间范围限制 / "Timestamp expires"
	CodePortProgram      = -18 // 端口程序异常 / "port program unusual"
	CodeChannelNotBound  = -19 // "Please contact the business managers binding channel"
)

// meanings are the English readings of the documented codes; the Chinese
// pages are translated so that operators reading logs need not know them.
var meanings = map[int]string{
	CodeAuth:             "authentication error",
	CodeIPRestricted:     "IP access restricted",
	CodeTimeFormat:       "incorrect time format",
	CodeUserLocked:       "user locked",
	CodeFieldEmpty:       "field is empty or query ID is abnormal",
	CodeTimestampExpired: "timestamp outside the allowed time range",
	CodePortProgram:      "vendor port program exception",
	CodeChannelNotBound:  "no channel bound: contact the vendor's business manager",
}

// Meaning returns the English meaning of a documented status code, or ""
// for a code the vendors do not document.
func Meaning(code int) string { return meanings[code] }

// StatusError is a non-zero status in the vendor's answer envelope. Compare
// it with the Err* sentinels through errors.Is; a code the vendors do not
// document still arrives as a StatusError (and is classified retryable).
type StatusError struct {
	// Code is the envelope's status, parsed from its string.
	Code int
	// Reason is the envelope's reason as vendorbody makes it safe to
	// keep: credentials removed, then valid UTF-8 on one line, shortened.
	Reason string
}

// maxReason bounds the vendor's text kept in errors: it ends up in logs and
// Postgres, and a misbehaving vendor must not fill them.
const maxReason = 200

// Error names the code, its documented meaning and the vendor's reason.
func (e *StatusError) Error() string {
	s := "signedapi: vendor status " + strconv.Itoa(e.Code)
	if m := Meaning(e.Code); m != "" {
		s += " (" + m + ")"
	} else {
		s += " (undocumented)"
	}
	if e.Reason != "" && e.Reason != Meaning(e.Code) {
		s += ": " + strconv.Quote(e.Reason)
	}
	return s
}

// Is makes errors.Is(err, ErrAuth) true for any StatusError with the same
// code, whatever reason text the vendor chose.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Code == e.Code
}

// Sentinels for every documented status code, for errors.Is. They are
// *StatusError values, so errors.As also yields their Code.
var (
	// ErrAuth is -1, 认证错误: the Api-Key is unknown or the Sign does not
	// match the secret. Credentials must be fixed; retrying cannot help.
	ErrAuth error = &StatusError{Code: CodeAuth}
	// ErrIPRestricted is -2, Ip访问受限: this host's address is not on the
	// account's allow list.
	ErrIPRestricted error = &StatusError{Code: CodeIPRestricted}
	// ErrTimeFormat is -11, "Incorrect time format" (getReport).
	ErrTimeFormat error = &StatusError{Code: CodeTimeFormat}
	// ErrUserLocked is -13, 用户被锁定: the vendor locked the account.
	ErrUserLocked error = &StatusError{Code: CodeUserLocked}
	// ErrFieldEmpty is -14, "Field is empty or query ID is abnormal"
	// (getReport: a missing appId/msgIds or an id the vendor rejects).
	ErrFieldEmpty error = &StatusError{Code: CodeFieldEmpty}
	// ErrTimestampExpired is -16, 超出时间范围限制: the Timestamp header is
	// too far from the vendor's clock. The client retries once with a fresh
	// timestamp; a second refusal comes wrapped in a *SkewError when the
	// vendor's Date header tells how far apart the clocks are.
	ErrTimestampExpired error = &StatusError{Code: CodeTimestampExpired}
	// ErrPortProgram is -18, 端口程序异常: a failure inside the vendor's
	// program, transient from our side.
	ErrPortProgram error = &StatusError{Code: CodePortProgram}
	// ErrChannelNotBound is -19, "Please contact the business managers
	// binding channel": the account has no sending channel configured.
	ErrChannelNotBound error = &StatusError{Code: CodeChannelNotBound}
)

// ErrMalformedResponse means the vendor's answer could not be understood
// (not JSON, no status, a field that does not parse). Vendors emit such
// bodies from proxies and during incidents, so it is retryable.
var ErrMalformedResponse = errors.New("signedapi: malformed response")

// ErrConfig means the client's Config is unusable; every call fails with it
// until the configuration is fixed.
var ErrConfig = errors.New("signedapi: invalid configuration")

// ErrInvalidRequest means the caller's arguments cannot form a request the
// vendor documents (for example an empty msgIds list).
var ErrInvalidRequest = errors.New("signedapi: invalid request")

// HTTPError is an answer whose HTTP status is not 2xx and whose body carries
// no status envelope.
type HTTPError struct {
	// StatusCode is the HTTP status code.
	StatusCode int
	// RetryAfter is the vendor's Retry-After hint, zero when absent.
	RetryAfter time.Duration
}

// Error names the HTTP status.
func (e *HTTPError) Error() string {
	return fmt.Sprintf("signedapi: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
}

// SkewError reports that the vendor refused the Timestamp again after the
// retry with a fresh one, so the clocks really disagree. It wraps the -16
// StatusError.
type SkewError struct {
	// Skew is our clock minus the vendor's Date header: positive when our
	// clock runs ahead. Date has one-second resolution.
	Skew time.Duration
	// Err is the vendor's -16 answer.
	Err error
}

// Error gives the skew so that an operator can fix the host's clock.
func (e *SkewError) Error() string {
	dir := "ahead of"
	d := e.Skew
	if d < 0 {
		dir, d = "behind", -d
	}
	return fmt.Sprintf("signedapi: timestamp refused twice, local clock is %s %s the vendor's Date: %v", d, dir, e.Err)
}

// Unwrap exposes the -16 StatusError to errors.Is and errors.As.
func (e *SkewError) Unwrap() error { return e.Err }

// Class is what a caller should do about an error.
type Class int

// Classes returned by Classify.
const (
	// ClassNone is a nil error.
	ClassNone Class = iota
	// ClassRetryable: try again later, the same request may succeed.
	ClassRetryable
	// ClassPermanent: the same request will fail again (bad arguments,
	// configuration, a 4xx answer); give up on it.
	ClassPermanent
	// ClassAccount: the account itself is refused (credentials, IP allow
	// list, locked, no channel). Permanent for every request until an
	// operator acts, so callers pause the vendor and raise an alert.
	ClassAccount
)

// String names the class for logs and metrics labels.
func (c Class) String() string {
	switch c {
	case ClassNone:
		return "none"
	case ClassRetryable:
		return "retryable"
	case ClassPermanent:
		return "permanent"
	case ClassAccount:
		return "account"
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// codeClass holds the documented codes that are not retryable; every other
// code, documented or not, is retried.
var codeClass = map[int]Class{
	CodeAuth:            ClassAccount,
	CodeIPRestricted:    ClassAccount,
	CodeUserLocked:      ClassAccount,
	CodeChannelNotBound: ClassAccount,
	// Nothing in our requests carries a time, and -14 names a field or id:
	// resending the same request gets the same answer.
	CodeTimeFormat: ClassPermanent,
	CodeFieldEmpty: ClassPermanent,
	// -16 after our own retry and -18 are environmental; they may clear.
	CodeTimestampExpired: ClassRetryable,
	CodePortProgram:      ClassRetryable,
}

// Classify is the one decision about vendor errors of this family. Unknown
// errors (network failures, timeouts, cancellations, undocumented codes)
// are retryable: giving up is reserved for answers that say so.
func Classify(err error) Class {
	if err == nil {
		return ClassNone
	}
	var se *StatusError
	if errors.As(err, &se) {
		if c, ok := codeClass[se.Code]; ok {
			return c
		}
		return ClassRetryable
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.StatusCode >= 500, he.StatusCode == http.StatusTooManyRequests,
			he.StatusCode == http.StatusRequestTimeout:
			return ClassRetryable
		}
		return ClassPermanent
	}
	if errors.Is(err, ErrConfig) || errors.Is(err, ErrInvalidRequest) {
		return ClassPermanent
	}
	// ErrMalformedResponse, context.DeadlineExceeded, context.Canceled and
	// *url.Error all land here.
	return ClassRetryable
}

// Retryable reports whether the same call may succeed later.
func Retryable(err error) bool { return Classify(err) == ClassRetryable }

// Permanent reports whether the same call will fail again: ClassPermanent
// and ClassAccount alike.
func Permanent(err error) bool {
	c := Classify(err)
	return c == ClassPermanent || c == ClassAccount
}
