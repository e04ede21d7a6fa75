package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"relay/internal/config"
	"relay/internal/monitor"
)

// balanceVendors are the vendors `relay balance` reports on, in order,
// with the variables that switch each on.
var balanceVendors = []struct {
	name string
	vars string
}{
	{"laaffic", "RELAY_LAAFFIC_API_KEY and RELAY_LAAFFIC_API_SECRET"},
	{"itniotech", "RELAY_ITNIOTECH_API_KEY and RELAY_ITNIOTECH_API_SECRET"},
	{"jpush", "RELAY_JPUSH_DEV_KEY/_DEV_SECRET or RELAY_JPUSH_APP_KEY/_MASTER_SECRET"},
}

// balanceLine is one item of `relay balance --json`: the fields of the
// admin API's inbound.BalanceView but below_threshold, which only the
// running monitor knows (it is the state of the alert).
type balanceLine struct {
	Vendor string `json:"vendor"`
	Kind   string `json:"kind"`
	// Value is a decimal string, null for "not allocated".
	Value     *string   `json:"value"`
	CheckedAt time.Time `json:"checked_at"`
}

type balanceResult struct {
	readings  []monitor.Reading
	err       error
	checkedAt time.Time
}

// cmdBalance asks every configured vendor for its balances now, without
// a server or PostgreSQL, and prints a table (or JSON with --json). It
// fails (exit 1) when a configured vendor failed, after printing the
// others.
func cmdBalance(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("balance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print a JSON array of {vendor, kind, value, checked_at}")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{errors.New("usage: relay balance [--json]")}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	vs, err := buildVendors(cfg)
	if err != nil {
		return err
	}
	results := map[string]*balanceResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, src := range vs.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readings, err := src.Fetch(ctx)
			mu.Lock()
			results[src.Vendor] = &balanceResult{readings: readings, err: err, checkedAt: time.Now().UTC()}
			mu.Unlock()
		}()
	}
	wg.Wait()

	var failed []string
	for _, v := range balanceVendors {
		if r := results[v.name]; r != nil && r.err != nil {
			failed = append(failed, v.name)
		}
	}
	if *asJSON {
		lines := []balanceLine{}
		for _, v := range balanceVendors {
			r := results[v.name]
			if r == nil {
				continue
			}
			for _, rd := range r.readings {
				lines = append(lines, balanceLine{Vendor: v.name, Kind: rd.Kind, Value: readingText(rd), CheckedAt: r.checkedAt})
			}
			if r.err != nil {
				fmt.Fprintf(stderr, "relay balance: %s: %v\n", v.name, r.err)
			}
		}
		if err := printJSON(stdout, lines); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "VENDOR\tKIND\tVALUE\tCHECKED_AT\tNOTE")
		for _, v := range balanceVendors {
			r := results[v.name]
			if r == nil {
				fmt.Fprintf(tw, "%s\t-\tnot configured\t-\tset %s\n", v.name, v.vars)
				continue
			}
			for _, rd := range r.readings {
				value := "not allocated"
				if t := readingText(rd); t != nil {
					value = *t
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.name, rd.Kind, value, tableTime(r.checkedAt))
			}
			if r.err != nil {
				fmt.Fprintf(tw, "%s\t-\tERROR\t%s\t%s\n", v.name, tableTime(r.checkedAt), oneLine(r.err.Error()))
			}
		}
		fmt.Fprintln(tw, "liasmart\t-\tno balance API\t-\tLiasmart documents no balance call (CTrack confirmations only)")
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("balance query failed for %s", strings.Join(failed, ", "))
	}
	return nil
}

func readingText(r monitor.Reading) *string {
	if r.Value == nil {
		return nil
	}
	s := r.Value.String()
	return &s
}

// oneLine keeps a vendor's error text on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
