package main

import (
	"context"

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
	var vendors []string
	for _, v := range m.Config.EnabledConfirmVendors() {
		vendors = append(vendors, v.Name)
	}
	m.Server.SetAdmin(ops.New(ops.Config{Store: m.Store, JS: m.Bus.JS, Metrics: m.Metrics, Logger: m.Logger,
		Nudge: m.Outbox.Nudge, Vendors: vendors}))
	return nil
}
