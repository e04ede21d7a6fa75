// Package aws is relay's confirm client of AWS End User Messaging SMS
// (pinpoint-sms-voice-v2): PutMessageFeedback with MessageFeedbackStatus
// RECEIVED tells AWS that a message sent with MessageFeedbackEnabled
// converted. It goes through aws-sdk-go-v2, for SigV4 and the standard
// credential chain, with the SDK's retries off (relay's policy is the only
// one) and every answer read within a bound. It knows nothing of NATS or
// PostgreSQL.
package aws

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/pinpointsmsvoicev2"
	"github.com/aws/aws-sdk-go-v2/service/pinpointsmsvoicev2/types"
	"github.com/aws/smithy-go"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/vendorbody"
)

// Config configures a Client. Zero values take the documented defaults.
type Config struct {
	// Region is RELAY_AWS_REGION. Empty: the SDK's own (AWS_REGION, the
	// profile); New fails when neither names one.
	Region string
	// Endpoint is RELAY_AWS_ENDPOINT, the full base URL; empty: the SDK's
	// regional endpoint, https://sms-voice.{region}.amazonaws.com.
	Endpoint string
	// Credentials, when set, replace the SDK's default credential chain
	// (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN,
	// AWS_PROFILE, web identity, the instance role). Tests set static ones.
	Credentials awssdk.CredentialsProvider
	// Timeout bounds each call, credentials included, default 10s.
	Timeout time.Duration
	// MaxConns bounds idle connections kept to AWS, default 256.
	MaxConns int
	// HTTPClient, when set, is copied: the copy follows no redirect and
	// reads at most 64 KiB of an answer. Its transport is used as it is, so
	// a custom CA bundle the SDK's configuration names does not apply to it.
	HTTPClient *http.Client
}

// Client calls PutMessageFeedback. It is safe for concurrent use.
type Client struct {
	sdk     *pinpointsmsvoicev2.Client
	creds   awssdk.CredentialsProvider
	timeout time.Duration
}

// vendor names the vendor in errors.
const vendor = "aws"

// New returns a client for cfg. It fails when the SDK's configuration
// cannot be loaded (a named profile that does not exist, a malformed
// shared config file) or names no region: a fault to report at start,
// not on every call.
func New(cfg Config) (*Client, error) {
	cfg.Timeout = confirm.TimeoutOrDefault(cfg.Timeout)
	opts := []func(*config.LoadOptions) error{
		// relay's retry policy is the only one: attempts counts every call
		// AWS receives, and the SDK would retry throttling behind its back.
		config.WithRetryer(func() awssdk.Retryer { return awssdk.NopRetryer{} }),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.Credentials != nil {
		opts = append(opts, config.WithCredentialsProvider(cfg.Credentials))
	}
	// Loading reads environment and files only; nothing to cancel.
	sdkCfg, err := config.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("aws: load the SDK's configuration: %w", err)
	}
	if sdkCfg.Region == "" {
		return nil, errors.New("aws: no region: set RELAY_AWS_REGION")
	}
	if sdkCfg.Credentials == nil {
		return nil, errors.New("aws: the SDK's configuration gives no credentials provider")
	}
	// The client is set on the service rather than in the loader, so that
	// the loader can still put a custom CA bundle into its own transport,
	// which relay's client then uses.
	var base *http.Transport
	if bc, ok := sdkCfg.HTTPClient.(*awshttp.BuildableClient); ok {
		base = bc.GetTransport()
	}
	hc := httpClient(cfg.HTTPClient, base, cfg.MaxConns)
	sdk := pinpointsmsvoicev2.NewFromConfig(sdkCfg, func(o *pinpointsmsvoicev2.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = awssdk.String(cfg.Endpoint)
		}
		o.Retryer = awssdk.NopRetryer{}
		o.HTTPClient = hc
	})
	return &Client{sdk: sdk, creds: sdkCfg.Credentials, timeout: cfg.Timeout}, nil
}

// messageID is the MessageId pattern and length of the API reference.
var messageID = regexp.MustCompile(`^[A-Za-z0-9_:/-]{1,64}$`)

// statusInvalidID is the Status of an id AWS could never accept.
const statusInvalidID = "invalid message_id"

// statusNoCredentials is the Status of a call that could not be signed.
const statusNoCredentials = "credentials unavailable"

// Confirm sets the feedback of conv's message to RECEIVED. AWS takes no
// conversion time, so conv.At is not sent. One HTTP call at most; an
// error (wrapping one of confirm's failures) only when no verdict could be
// read, and then the Answer is Transient.
func (c *Client) Confirm(ctx context.Context, conv confirm.Conversion) (confirm.Answer, error) {
	if !messageID.MatchString(conv.MessageID) {
		return confirm.Answer{Outcome: confirm.Permanent, Status: statusInvalidID,
			Meaning: "MessageId must be 1 to 64 characters of A-Z a-z 0-9 _ : / -"}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	// Retrieved here rather than inside the SDK's call so that a chain with
	// nothing to give is told apart from a failed call, and so that the
	// secrets are known to redact. The SDK reads them from the same cache.
	creds, err := c.creds.Retrieve(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return confirm.Answer{Outcome: confirm.Transient}, confirm.TransportError(ctx, vendor, c.timeout, err)
		}
		// Nothing to sign with is account-wide and the operator's to fix:
		// pause the vendor rather than spend the event's attempts on it.
		return confirm.Answer{Outcome: confirm.Credentials, Status: statusNoCredentials,
			Meaning: vendorbody.Clean(err.Error(), vendorbody.SnippetLen)}, nil
	}
	redact := vendorbody.NewRedactor(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)

	var x exchange
	out, err := c.sdk.PutMessageFeedback(withExchange(ctx, &x), &pinpointsmsvoicev2.PutMessageFeedbackInput{
		MessageId:             awssdk.String(conv.MessageID),
		MessageFeedbackStatus: types.MessageFeedbackStatusReceived,
	})
	a := confirm.Answer{Outcome: confirm.Transient, HTTPStatus: x.status}
	if x.header != nil {
		// AWS documents no Retry-After for this API; a proxy in front of it
		// may still send one.
		a.RetryAfter = confirm.ParseRetryAfter(x.header.Get("Retry-After"), time.Now())
	}
	if err != nil {
		return c.failure(ctx, a, x, redact, err)
	}
	switch out.MessageFeedbackStatus {
	case types.MessageFeedbackStatusReceived:
		a.Outcome, a.Status, a.Meaning = confirm.Confirmed, string(out.MessageFeedbackStatus), "message feedback recorded as RECEIVED"
		return a, nil
	case types.MessageFeedbackStatusFailed:
		// The answer is the message's current status: a record AWS already
		// set to FAILED (an hour after the send) is not turned back.
		a.Outcome, a.Status, a.Meaning = confirm.Permanent, string(out.MessageFeedbackStatus), "the message's feedback record is FAILED"
		return a, nil
	}
	return a, fmt.Errorf("%s: HTTP %d: %w: MessageFeedbackStatus %q", vendor, x.status, confirm.ErrUnreadable,
		redact.Text(string(out.MessageFeedbackStatus), 64))
}

// failure turns the SDK's error for a call into an Answer, and an error
// where no verdict was read. No text of the SDK's error is used as it is:
// it holds what AWS's headers said (a request id), unbounded.
func (c *Client) failure(ctx context.Context, a confirm.Answer, x exchange, redact vendorbody.Redactor, err error) (confirm.Answer, error) {
	var apiErr smithy.APIError
	var deserErr *smithy.DeserializationError
	snippet := redact.Snippet(x.body)
	switch {
	case errors.Is(err, confirm.ErrTooLarge):
		return a, fmt.Errorf("%s: HTTP %d: %w: over %d bytes", vendor, x.status, errBodyTooLarge, maxBody)
	case x.status == 0 || !errors.As(err, &apiErr) && !errors.As(err, &deserErr):
		// No response, or one whose body broke off (a reset, a drip the
		// timeout ended).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue
		}
		return a, confirm.TransportError(ctx, vendor, c.timeout, err)
	case x.status < 200 || (x.status >= 300 && x.status < 400):
		// Not the API talking: a redirect (not followed), an interim status.
		a.Status, a.Meaning = confirm.HTTPStatusText(x.status), snippet
		return a, fmt.Errorf("%s: HTTP %d: %w: %s", vendor, x.status, confirm.ErrUnreadable, snippet)
	case apiErr != nil && apiErr.ErrorCode() != "" && apiErr.ErrorCode() != "UnknownError":
		code := apiErr.ErrorCode()
		a.Outcome = Classify(code)
		a.Status = redact.Text(code, 100)
		a.Meaning = redact.Text(meaning(apiErr), vendorbody.SnippetLen)
		return a, nil
	case x.status < 300:
		// A 2xx that is not PutMessageFeedback's JSON (a portal's page, a
		// cut body): no verdict in it.
		a.Status, a.Meaning = confirm.HTTPStatusText(x.status), snippet
		return a, fmt.Errorf("%s: HTTP %d: %w: %s", vendor, x.status, confirm.ErrUnreadable, snippet)
	}
	// An error status naming no exception (a load balancer's page, an
	// empty 502): the status is the answer.
	a.Status, a.Meaning = confirm.HTTPStatusText(x.status), snippet
	if a.Meaning == "" {
		a.Meaning = "no exception named"
	}
	return a, nil
}

// meaning is an exception's reason (where it has one) and message, or
// AWS's description of it where the message is empty.
func meaning(e smithy.APIError) string {
	var reason string
	var vErr *types.ValidationException
	var aErr *types.AccessDeniedException
	var rErr *types.ResourceNotFoundException
	switch {
	case errors.As(e, &vErr):
		reason = string(vErr.Reason)
	case errors.As(e, &aErr):
		reason = string(aErr.Reason)
	case errors.As(e, &rErr):
		reason = string(rErr.ResourceType)
	}
	msg := e.ErrorMessage()
	// The SDK fills an absent message with the code, or "UnknownError".
	if msg == "" || msg == e.ErrorCode() || msg == "UnknownError" {
		msg = Meaning(e.ErrorCode())
	}
	parts := make([]string, 0, 2)
	for _, p := range []string{reason, msg} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ": ")
}
