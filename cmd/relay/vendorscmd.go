package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"relay/internal/config"
	"relay/internal/ops"
	"relay/internal/store"
)

// vendorLine is one item of `relay vendors --json`. It says whether a
// vendor's credentials are set, never what they are.
type vendorLine struct {
	Vendor         string `json:"vendor"`
	CredentialsSet bool   `json:"credentials_set"`
	// MaxInFlight is the effective bound on calls per process:
	// RELAY_<VENDOR>_MAX_IN_FLIGHT, or RELAY_WORKER_CONCURRENCY when that
	// is 0 (MaxInFlightDefault).
	MaxInFlight        int  `json:"max_in_flight"`
	MaxInFlightDefault bool `json:"max_in_flight_default"`
	// RatePerSecond bounds calls across the fleet; 0 is no bound.
	RatePerSecond float64 `json:"rate_per_second"`
	// Paused is null when PostgreSQL could not be read.
	Paused    *bool      `json:"paused"`
	PauseKind string     `json:"pause_kind,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	PausedAt  *time.Time `json:"paused_at,omitempty"`
}

// cliStoreTimeout bounds how long the vendor views wait for PostgreSQL:
// they answer from the configuration alone when it is down.
const cliStoreTimeout = 5 * time.Second

// cmdVendors lists the enabled confirm vendors from the configuration:
// whether their credentials are set, their limits and, when PostgreSQL
// answers, their fleet-wide pause state. A table, or JSON with --json.
func cmdVendors(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vendors", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of {vendor, credentials_set, max_in_flight, rate_per_second, paused, ...}")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{errors.New("usage: relay vendors [--json]")}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	statuses, stErr := vendorStatuses(ctx, cfg)
	if stErr != nil {
		fmt.Fprintf(stderr, "relay vendors: pause states unknown: %v\n", stErr)
	}
	lines := []vendorLine{}
	for _, v := range cfg.EnabledConfirmVendors() {
		l := vendorLine{Vendor: v.Name, CredentialsSet: v.Configured, MaxInFlight: cfg.InFlight(v),
			MaxInFlightDefault: v.Limits.MaxInFlight == 0, RatePerSecond: float64(v.Limits.Rate)}
		if stErr == nil {
			st := statuses[v.Name]
			l.Paused = &st.Paused
			if st.Paused {
				l.PauseKind, l.Reason, l.PausedAt = st.Kind, st.Reason, st.PausedAt
			}
		}
		lines = append(lines, l)
	}
	if *asJSON {
		return printJSON(stdout, lines)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "VENDOR\tCREDENTIALS\tMAX_IN_FLIGHT\tRATE\tPAUSED")
	for _, l := range lines {
		creds := "no"
		if l.CredentialsSet {
			creds = "yes"
		}
		inFlight := strconv.Itoa(l.MaxInFlight)
		if l.MaxInFlightDefault {
			inFlight += " (RELAY_WORKER_CONCURRENCY)"
		}
		rate := "off"
		if l.RatePerSecond > 0 {
			rate = strconv.FormatFloat(l.RatePerSecond, 'f', -1, 64) + "/s"
		}
		paused := "unknown"
		switch {
		case l.Paused == nil:
		case *l.Paused:
			paused = "yes, " + l.PauseKind
			if l.Reason != "" {
				paused += ": " + oneLine(l.Reason)
			}
		default:
			paused = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", l.Vendor, creds, inFlight, rate, paused)
	}
	return tw.Flush()
}

// vendorStatuses reads the fleet's pause rows, by vendor.
func vendorStatuses(ctx context.Context, cfg config.Config) (map[string]store.VendorStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, cliStoreTimeout)
	defer cancel()
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: 2})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rows, err := st.VendorStatuses(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]store.VendorStatus, len(rows))
	for _, r := range rows {
		out[r.Vendor] = r
	}
	return out, nil
}

// cmdVendorsSummary is `relay status` without an event: each enabled
// vendor's state, calls per minute and latency, as /admin/v1/stats
// answers them in enabled_vendors. It reads PostgreSQL directly, so it
// works while relay is down, and covers the whole fleet.
func cmdVendorsSummary(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON: {window_seconds, vendors: [{vendor, state, calls_per_minute, latency_ms_p50, ...}], at}")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{errors.New(statusUsage)}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	openCtx, cancel := context.WithTimeout(ctx, cliStoreTimeout)
	defer cancel()
	st, err := store.Open(openCtx, cfg.DatabaseURL, store.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer st.Close()
	vendors, unconfigured := opsVendors(cfg)
	view, err := ops.New(ops.Config{Store: st, Vendors: vendors, Unconfigured: unconfigured}).Vendors(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(stdout, view)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "VENDOR\tSTATE\tCALLS/MIN\tP50_MS\tP95_MS\tNOTE\n")
	for _, v := range view.Vendors {
		state := v.State
		if v.PauseKind != "" {
			state += " (" + v.PauseKind + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.Vendor, state, strconv.FormatFloat(v.CallsPerMinute, 'f', -1, 64),
			msCell(v.LatencyP50), msCell(v.LatencyP95), oneLine(v.Reason))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "calls of the last %d minutes, every replica, at %s\n", view.WindowSeconds/60, tableTime(view.At))
	return nil
}

func msCell(v *float64) string {
	if v == nil {
		return "-"
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}
