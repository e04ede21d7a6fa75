// Package monitor watches the vendors relay does not confirm with: it
// polls their balances (BalanceMonitor) and the delivery reports of the
// messages apps register (ReportPoller, Tracker), keeps what it learns in
// PostgreSQL and announces it on NATS (relay.balances.*, relay.reports.*,
// relay.alerts.*) through an outbox (Publisher), so that every replica
// may run it and each event is published once.
package monitor

import (
	"context"
	"errors"
	"sync"

	"github.com/shopspring/decimal"

	"relay/internal/vendors/jpush"
	"relay/internal/vendors/signedapi"
)

// Error classes, the label values of relay_vendor_poll_errors_total.
const (
	ClassRetryable = "retryable"
	ClassPermanent = "permanent"
	// ClassAccount means the vendor refuses the account (credentials, IP
	// allow list, lock): it raises a credentials_rejected alert.
	ClassAccount = "account"
)

// Reading is one balance figure as a vendor reports it.
type Reading struct {
	// Kind is "balance", "gift", "credit" (Laaffic, Itniotech) or
	// "dev_balance", "dev_voice", ..., "app_market" (JPush).
	Kind string
	// Value is exact; nil where the vendor says "not allocated".
	Value *decimal.Decimal
}

// Source is one vendor's balance API.
type Source struct {
	Vendor string
	// Fetch asks the vendor now. It may return some readings together with
	// an error when part of the answer failed (one of JPush's two calls).
	Fetch func(ctx context.Context) ([]Reading, error)
	// Classify sorts Fetch's errors into ClassRetryable, ClassPermanent
	// and ClassAccount.
	Classify func(error) string
	// LowBalance, when set, is the threshold under which a reading raises
	// a low_balance alert (once per crossing).
	LowBalance *decimal.Decimal
	// AlertKinds are the kinds compared with LowBalance; empty means all.
	AlertKinds []string
}

// alerts reports whether kind is compared with the threshold.
func (s Source) alerts(kind string) bool {
	if s.LowBalance == nil {
		return false
	}
	if len(s.AlertKinds) == 0 {
		return true
	}
	for _, k := range s.AlertKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// BalanceGetter is the balance call of the signed API family (Laaffic,
// Itniotech).
type BalanceGetter interface {
	GetBalance(ctx context.Context) (signedapi.Balance, error)
}

// SignedSource is the balance source of a signed-API vendor: kinds
// balance, gift and credit. The low-balance threshold applies to
// "balance", the real account (gift and credit are reported, not alerted).
func SignedSource(vendor string, c BalanceGetter, lowBalance *decimal.Decimal) Source {
	return Source{
		Vendor: vendor,
		Fetch: func(ctx context.Context) ([]Reading, error) {
			b, err := c.GetBalance(ctx)
			if err != nil {
				return nil, err
			}
			return []Reading{
				{Kind: "balance", Value: &b.Balance},
				{Kind: "gift", Value: &b.Gift},
				{Kind: "credit", Value: &b.Credit},
			}, nil
		},
		Classify:   ClassifySigned,
		LowBalance: lowBalance,
		AlertKinds: []string{"balance"},
	}
}

// JPushSource is JPush's balance source: the account's quotas (dev_*) when
// the dev pair is configured and the application's (app_*) when the app
// pair is, asked at once. The threshold applies to every allocated quota.
func JPushSource(c *jpush.Client, lowBalance *decimal.Decimal) Source {
	return Source{
		Vendor: "jpush",
		Fetch: func(ctx context.Context) ([]Reading, error) {
			var dev, app []jpush.Reading
			var devErr, appErr error
			var wg sync.WaitGroup
			if c.DevConfigured() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var b jpush.DevBalance
					if b, devErr = c.DevBalance(ctx); devErr == nil {
						dev = b.Readings()
					}
				}()
			}
			if c.AppConfigured() {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var b jpush.AppBalance
					if b, appErr = c.AppBalance(ctx); appErr == nil {
						app = b.Readings()
					}
				}()
			}
			wg.Wait()
			out := append(quotaReadings("dev_", dev), quotaReadings("app_", app)...)
			return out, errors.Join(devErr, appErr)
		},
		Classify:   ClassifyJPush,
		LowBalance: lowBalance,
	}
}

func quotaReadings(prefix string, rs []jpush.Reading) []Reading {
	out := make([]Reading, 0, len(rs))
	for _, r := range rs {
		rd := Reading{Kind: prefix + r.Kind}
		if r.Quota.Allocated {
			v := decimal.NewFromInt(r.Quota.Value)
			rd.Value = &v
		}
		out = append(out, rd)
	}
	return out
}

// ClassifySigned classifies an error of the signed API family with
// signedapi.Classify.
func ClassifySigned(err error) string {
	switch signedapi.Classify(err) {
	case signedapi.ClassAccount:
		return ClassAccount
	case signedapi.ClassPermanent:
		return ClassPermanent
	}
	return ClassRetryable
}

// ClassifyJPush classifies a JPush error: rejected credentials are
// ClassAccount; what jpush.Retryable accepts is ClassRetryable.
func ClassifyJPush(err error) string {
	switch {
	case errors.Is(err, jpush.ErrUnauthorized):
		return ClassAccount
	case jpush.Retryable(err):
		return ClassRetryable
	}
	return ClassPermanent
}

// vendorCode is the vendor's own error code in err, when it has one.
func vendorCode(err error) *int {
	var se *signedapi.StatusError
	if errors.As(err, &se) {
		c := se.Code
		return &c
	}
	var ae *jpush.APIError
	if errors.As(err, &ae) && ae.Code != 0 {
		c := ae.Code
		return &c
	}
	return nil
}
