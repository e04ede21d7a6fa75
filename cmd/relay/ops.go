package main

import (
	"context"

	"relay/internal/config"
	"relay/internal/ops"
)

// openOps wires the operator features: the admin API's service (listings,
// stats, attempts, replays, vendor resume) on the HTTP server. A worker-only
// process serves no HTTP and gets none; operators reach a deployment's
// admin API through any process that serves it.
func (m *Main) openOps(ctx context.Context) error {
	if m.Server == nil {
		return nil
	}
	vendors, unconfigured := opsVendors(m.Config)
	m.Server.SetAdmin(ops.New(ops.Config{Store: m.Store, JS: m.Bus.JS, Metrics: m.Metrics, Logger: m.Logger,
		Nudge: m.Outbox.Nudge, Vendors: vendors, Unconfigured: unconfigured}))
	return nil
}

// opsVendors names the enabled confirm vendors, and those of them whose
// credentials are not set, for ops.Config.
func opsVendors(cfg config.Config) (vendors, unconfigured []string) {
	for _, v := range cfg.EnabledConfirmVendors() {
		vendors = append(vendors, v.Name)
		if !v.Configured {
			unconfigured = append(unconfigured, v.Name)
		}
	}
	return vendors, unconfigured
}
