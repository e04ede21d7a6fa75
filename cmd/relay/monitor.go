package main

import (
	"context"
	"fmt"
	"time"

	"relay/internal/config"
	"relay/internal/monitor"
	"relay/internal/vendors/itniotech"
	"relay/internal/vendors/jpush"
	"relay/internal/vendors/laaffic"
)

// vendorSet is the monitored vendors' clients built from the
// configuration; vendors without credentials are absent.
type vendorSet struct {
	// sources are the balance APIs, in the order laaffic, itniotech, jpush.
	sources []monitor.Source
	// laaffic is the report API client, nil when Laaffic is off.
	laaffic *laaffic.Client
}

// buildVendors makes the clients of the configured monitored vendors.
func buildVendors(cfg config.Config) (vendorSet, error) {
	var vs vendorSet
	if l := cfg.Laaffic; l.Configured() {
		c := laaffic.Config{BaseURL: l.URL, APIKey: l.APIKey, APISecret: l.APISecret, Timeout: cfg.VendorTimeout}
		if err := c.Validate(); err != nil {
			return vs, fmt.Errorf("laaffic: %w", err)
		}
		vs.laaffic = laaffic.New(c)
		vs.sources = append(vs.sources, monitor.SignedSource("laaffic", vs.laaffic, l.LowBalance.Decimal()))
	}
	if i := cfg.Itniotech; i.Configured() {
		c := itniotech.Config{BaseURL: i.URL, APIKey: i.APIKey, APISecret: i.APISecret, Timeout: cfg.VendorTimeout}
		if err := c.Validate(); err != nil {
			return vs, fmt.Errorf("itniotech: %w", err)
		}
		vs.sources = append(vs.sources, monitor.SignedSource("itniotech", itniotech.New(c), i.LowBalance.Decimal()))
	}
	if j := cfg.JPush; j.Configured() {
		c := jpush.Config{BaseURL: j.URL, DevKey: j.DevKey, DevSecret: j.DevSecret,
			AppKey: j.AppKey, MasterSecret: j.MasterSecret, Timeout: cfg.VendorTimeout}
		if err := c.Validate(); err != nil {
			return vs, err
		}
		vs.sources = append(vs.sources, monitor.JPushSource(jpush.New(c), j.LowBalance.Decimal()))
	}
	return vs, nil
}

// openMonitor wires the balance monitor and the delivery-report poller:
// the HTTP parts (POST/GET /v1/messages, GET /admin/v1/balances) where
// this process serves HTTP, the pollers where it runs workers.
func (m *Main) openMonitor(ctx context.Context) error {
	cfg := m.Config
	vs, err := buildVendors(cfg)
	if err != nil {
		return err
	}
	reportClients := map[string]monitor.ReportClient{}
	reportVendors := map[string]string{}
	if vs.laaffic != nil {
		reportClients["laaffic"] = vs.laaffic
		reportVendors["laaffic"] = cfg.Laaffic.AppID
	}
	if m.Server != nil {
		m.Server.SetMessageService(&monitor.Tracker{Store: m.Store, Vendors: reportVendors, TTL: cfg.ReportTTL})
		m.Server.SetBalanceService(m.Store)
	}
	if cfg.Role == config.RoleIngest {
		return nil
	}
	if len(vs.sources) > 0 {
		bm := monitor.NewBalanceMonitor(monitor.BalanceConfig{
			Sources: vs.sources, Interval: cfg.BalanceInterval, Logger: m.Logger, Metrics: m.Metrics, Outbox: m.Outbox,
		}, m.Store, m.Bus.JS)
		m.background = append(m.background, bm.Run)
	}
	// The poller runs without report clients too: tracked messages of a
	// vendor switched off still expire, and pending reports are published.
	rp := monitor.NewReportPoller(monitor.ReportConfig{
		Clients: reportClients, Interval: cfg.ReportInterval, Batch: cfg.ReportBatch,
		// A claimed message is kept from other replicas while its calls
		// (a bisected batch makes several) are in flight.
		Lease: max(5*time.Minute, 20*cfg.VendorTimeout), Logger: m.Logger, Metrics: m.Metrics, Outbox: m.Outbox,
	}, m.Store)
	m.background = append(m.background, rp.Run)
	return nil
}
