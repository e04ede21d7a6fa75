package main

import (
	"context"
	"fmt"
	"log/slog"

	"relay/internal/config"
	"relay/internal/outbound"
	"relay/internal/vendors/alibaba"
	"relay/internal/vendors/aws"
	"relay/internal/vendors/liasmart"
	"relay/internal/vendors/plivo"
	"relay/internal/vendors/telesign"
	"relay/internal/vendors/tencent"
	"relay/internal/vendors/twilio"
	"relay/internal/vendors/vonage"
)

// newConfirmer builds one confirm vendor's client from the configuration:
// every call bounded by RELAY_VENDOR_TIMEOUT, connections pooled up to the
// calls the vendor may have in flight.
type newConfirmer func(ctx context.Context, c config.Config, maxConns int, log *slog.Logger) (outbound.Confirmer, error)

// confirmers is every vendor relay confirms conversions with, by the name
// events give (config.ConfirmVendorNames): adding a vendor is its package,
// its settings in config, one line here and its README section.
var confirmers = map[string]newConfirmer{
	"liasmart": func(_ context.Context, c config.Config, n int, _ *slog.Logger) (outbound.Confirmer, error) {
		l := c.Liasmart
		return liasmart.New(liasmart.Config{BaseURL: l.URL, CTrackPath: l.CTrackPath, APIID: l.APIID, APIPassword: l.APIPassword,
			Timeout: c.VendorTimeout, MaxConns: n}), nil
	},
	"twilio": func(_ context.Context, c config.Config, n int, _ *slog.Logger) (outbound.Confirmer, error) {
		t := c.Twilio
		return twilio.New(twilio.Config{BaseURL: t.URL, AccountSID: t.AccountSID, AuthToken: t.AuthToken,
			APIKeySID: t.APIKeySID, APIKeySecret: t.APIKeySecret, Timeout: c.VendorTimeout, MaxConns: n}), nil
	},
	"vonage": func(_ context.Context, c config.Config, n int, _ *slog.Logger) (outbound.Confirmer, error) {
		v := c.Vonage
		return vonage.New(vonage.Config{BaseURL: v.URL, APIKey: v.APIKey, APISecret: v.APISecret, Timeout: c.VendorTimeout, MaxConns: n}), nil
	},
	"aws": func(_ context.Context, c config.Config, n int, _ *slog.Logger) (outbound.Confirmer, error) {
		return aws.New(aws.Config{Region: c.AWS.Region, Endpoint: c.AWS.Endpoint, Timeout: c.VendorTimeout, MaxConns: n})
	},
	"telesign": func(_ context.Context, c config.Config, n int, _ *slog.Logger) (outbound.Confirmer, error) {
		t := c.Telesign
		return telesign.New(telesign.Config{BaseURL: t.URL, CustomerID: t.CustomerID, APIKey: t.APIKey, Timeout: c.VendorTimeout, MaxConns: n}), nil
	},
	"plivo": func(_ context.Context, c config.Config, n int, _ *slog.Logger) (outbound.Confirmer, error) {
		p := c.Plivo
		return plivo.New(plivo.Config{BaseURL: p.URL, AuthID: p.AuthID, AuthToken: p.AuthToken, Timeout: c.VendorTimeout, MaxConns: n}), nil
	},
	"tencent": func(_ context.Context, c config.Config, n int, log *slog.Logger) (outbound.Confirmer, error) {
		t := c.Tencent
		return tencent.New(tencent.Config{BaseURL: t.URL, SecretID: t.SecretID, SecretKey: t.SecretKey, SmsSdkAppID: t.SMSSDKAppID,
			Region: t.Region, Timeout: c.VendorTimeout, MaxConns: n, Logger: log}), nil
	},
	"alibaba": func(_ context.Context, c config.Config, n int, log *slog.Logger) (outbound.Confirmer, error) {
		a := c.Alibaba
		return alibaba.New(alibaba.Config{BaseURL: a.URL, AccessKeyID: a.AccessKeyID, AccessKeySecret: a.AccessKeySecret,
			Timeout: c.VendorTimeout, MaxConns: n, Logger: log}), nil
	},
}

// openConfirmers builds the client of every enabled confirm vendor whose
// credentials are set; an enabled vendor without them is present with a
// nil client, so that its events are accepted and wait, paused, and the
// log says so.
func openConfirmers(ctx context.Context, c config.Config, log *slog.Logger) (map[string]outbound.Confirmer, error) {
	out := map[string]outbound.Confirmer{}
	for _, v := range c.EnabledConfirmVendors() {
		out[v.Name] = nil
		if !v.Configured {
			log.Warn("vendor credentials not set: its events are accepted and kept paused until they are", "vendor", v.Name)
			continue
		}
		build, ok := confirmers[v.Name]
		if !ok {
			return nil, fmt.Errorf("RELAY_CONFIRM_VENDORS: %s has no client", v.Name)
		}
		client, err := build(ctx, c, c.InFlight(v), log.With("vendor", v.Name))
		if err != nil {
			return nil, fmt.Errorf("vendor %s: %w", v.Name, err)
		}
		out[v.Name] = client
	}
	return out, nil
}
