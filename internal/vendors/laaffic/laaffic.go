// Package laaffic is the client for Laaffic's account balance (getBalance,
// seed 000) and delivery reports (getReport, seed 002). Signing, transport
// and error mapping are the family's, in vendors/signedapi.
package laaffic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"relay/internal/vendors/signedapi"
	"relay/internal/vendors/vendorbody"
)

// DefaultBaseURL is used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.laaffic.com"

// Documented paths, appended to the base URL.
const (
	BalancePath = "/v3/getBalance"
	ReportPath  = "/v3/getReport"
)

// Config is the family's configuration; BaseURL defaults to DefaultBaseURL.
type Config = signedapi.Config

// Balance is the family's getBalance answer.
type Balance = signedapi.Balance

// ErrNoMsgIDs is returned by GetReport for an empty msgIDs list; it wraps
// signedapi.ErrInvalidRequest, so it classifies as permanent.
var ErrNoMsgIDs = fmt.Errorf("laaffic: getReport needs at least one msgId: %w", signedapi.ErrInvalidRequest)

// Client calls Laaffic. It is safe for concurrent use.
type Client struct {
	api *signedapi.Client
}

// New returns a Client; configuration errors surface from each call (see
// signedapi.New) so they can be checked at start with cfg.Validate.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	return &Client{api: signedapi.New(cfg)}
}

// GetBalance asks for the account's balances.
func (c *Client) GetBalance(ctx context.Context) (Balance, error) {
	b, err := c.api.GetBalance(ctx, BalancePath)
	if err != nil {
		return Balance{}, fmt.Errorf("laaffic: getBalance: %w", err)
	}
	return b, nil
}

// GetReport asks for the delivery reports of msgIDs, sent under appID.
// The vendor documents no maximum batch size; callers choose one
// (RELAY_REPORT_BATCH). Ids the vendor does not know are only counted in
// Report.NoFound.
func (c *Client) GetReport(ctx context.Context, appID string, msgIDs []string) (Report, error) {
	if len(msgIDs) == 0 {
		return Report{}, ErrNoMsgIDs
	}
	if appID == "" {
		return Report{}, fmt.Errorf("laaffic: getReport: appId is empty: %w", signedapi.ErrInvalidRequest)
	}
	escaped := make([]string, len(msgIDs))
	for i, id := range msgIDs {
		// A comma inside an id would silently split it into two.
		if id == "" || strings.Contains(id, ",") {
			return Report{}, fmt.Errorf("laaffic: getReport: msgIds[%d] %q is empty or holds a comma: %w", i, id, signedapi.ErrInvalidRequest)
		}
		escaped[i] = url.QueryEscape(id)
	}
	// Built by hand to keep the seed's shape: appId first, then the ids
	// joined by literal commas (url.Values would send %2C).
	query := "appId=" + url.QueryEscape(appID) + "&msgIds=" + strings.Join(escaped, ",")
	body, err := c.api.Get(ctx, ReportPath, query)
	if err != nil {
		return Report{}, fmt.Errorf("laaffic: getReport: %w", err)
	}
	r, err := ParseReport(body)
	if err != nil {
		return Report{}, fmt.Errorf("laaffic: getReport: %w", err)
	}
	return r, nil
}

// DeliveryStatus is a report item's "status".
type DeliveryStatus int

// Delivery statuses; the zero value is Unknown so that a status the
// vendor adds later is visible rather than mistaken for another.
const (
	// Unknown is any status the page does not document.
	Unknown DeliveryStatus = iota
	// Delivered is "0", "sent successfully".
	Delivered
	// Sending is "-1", "sent in": not final yet, ask again later.
	Sending
	// Failed is "1", "sent failed".
	Failed
)

// ParseDeliveryStatus maps the vendor's status text; anything undocumented
// is Unknown, not an error, so one odd item does not hide the others.
func ParseDeliveryStatus(s string) DeliveryStatus {
	switch s {
	case "0":
		return Delivered
	case "-1":
		return Sending
	case "1":
		return Failed
	}
	return Unknown
}

// String names the status for logs and event payloads.
func (s DeliveryStatus) String() string {
	switch s {
	case Delivered:
		return "delivered"
	case Sending:
		return "sending"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// Final reports whether the status will not change any more.
func (s DeliveryStatus) Final() bool { return s == Delivered || s == Failed }

// Report is a getReport answer.
type Report struct {
	// Success, Fail, Sending and NoFound are the answer's "success",
	// "fail", "sending" and "nofound" counts; NoFound includes messages
	// still queued at the vendor, which have no item.
	Success, Fail, Sending, NoFound int
	// Items are the answer's "array", in the vendor's order.
	Items []ReportItem
}

// ReportItem is one message's delivery report.
type ReportItem struct {
	// MsgID is "msgId", the platform's message id.
	MsgID string
	// Number is "number", the phone number the message went to.
	Number string
	// ReceiveTime is "receiveTime" with the vendor's offset kept; zero
	// when the vendor sent none (messages still sending) or sent text that
	// is not ISO 8601 with an offset (see RawReceiveTime).
	ReceiveTime time.Time
	// RawReceiveTime is "receiveTime" as sent (made valid one-line UTF-8
	// and bounded, as RawStatus and Number are). When it is not empty but
	// ReceiveTime is zero, the vendor's text did not parse: the item is
	// kept rather than failing the whole report, and callers may store or
	// show the text.
	RawReceiveTime string
	// Status is "status", mapped.
	Status DeliveryStatus
	// RawStatus is "status" as sent, kept for Unknown statuses.
	RawStatus string
}

// maxItemText bounds the texts of a report item kept as sent.
const maxItemText = 64

// ParseReport decodes a getReport answer. A non-zero status gives the
// family's typed error; a count that does not parse or an item without
// msgId gives signedapi.ErrMalformedResponse. A receiveTime that does not
// parse does not fail the report: that item keeps a zero ReceiveTime and
// the text in RawReceiveTime, so one odd item never blocks a batch.
func ParseReport(body []byte) (Report, error) {
	if err := signedapi.CheckStatus(body); err != nil {
		return Report{}, err
	}
	var w struct {
		Success *signedapi.WireString `json:"success"`
		Fail    *signedapi.WireString `json:"fail"`
		Sending *signedapi.WireString `json:"sending"`
		NoFound *signedapi.WireString `json:"nofound"`
		Array   []struct {
			MsgID       signedapi.WireString `json:"msgId"`
			Number      signedapi.WireString `json:"number"`
			ReceiveTime signedapi.WireString `json:"receiveTime"`
			Status      signedapi.WireString `json:"status"`
		} `json:"array"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return Report{}, fmt.Errorf("%w: %w", signedapi.ErrMalformedResponse, err)
	}
	var r Report
	for _, c := range []struct {
		name string
		v    *signedapi.WireString
		dst  *int
	}{
		{"success", w.Success, &r.Success},
		{"fail", w.Fail, &r.Fail},
		{"sending", w.Sending, &r.Sending},
		{"nofound", w.NoFound, &r.NoFound},
	} {
		n, err := parseCount(c.name, c.v)
		if err != nil {
			return Report{}, err
		}
		*c.dst = n
	}
	r.Items = make([]ReportItem, 0, len(w.Array))
	for i, a := range w.Array {
		if a.MsgID == "" {
			return Report{}, fmt.Errorf("%w: array[%d] has no msgId", signedapi.ErrMalformedResponse, i)
		}
		// An unparseable time leaves the zero time; RawReceiveTime keeps
		// the text.
		at, _ := parseReceiveTime(string(a.ReceiveTime))
		// The texts kept go to PostgreSQL and to clients: made valid
		// and bounded, so that one odd item cannot fail the batch that
		// stores it.
		r.Items = append(r.Items, ReportItem{
			MsgID:          string(a.MsgID),
			Number:         vendorbody.Clean(string(a.Number), maxItemText),
			ReceiveTime:    at,
			RawReceiveTime: vendorbody.Clean(string(a.ReceiveTime), maxItemText),
			Status:         ParseDeliveryStatus(string(a.Status)),
			RawStatus:      vendorbody.Clean(string(a.Status), maxItemText),
		})
	}
	return r, nil
}

// parseCount reads a count; an absent one is 0, since the items, not the
// counts, carry what relay acts on.
func parseCount(name string, v *signedapi.WireString) (int, error) {
	if v == nil {
		return 0, nil
	}
	n, err := strconv.Atoi(string(*v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %s %.20q is not a count", signedapi.ErrMalformedResponse, name, string(*v))
	}
	return n, nil
}

// receiveTimeLayouts: the page's RFC 3339 form (2021-02-12T09:30:03+08:00,
// fractions of a second accepted by time.Parse) and ISO 8601's basic
// offset, which the page's "ISO8601" also admits.
var receiveTimeLayouts = []string{time.RFC3339, "2006-01-02T15:04:05Z0700"}

// parseReceiveTime keeps the vendor's offset; "" is the zero time.
func parseReceiveTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range receiveTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("receiveTime %.40q is not ISO 8601 with an offset", s)
}
