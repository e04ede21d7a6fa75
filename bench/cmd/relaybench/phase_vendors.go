package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"relay/bench/internal/load"
	"relay/bench/internal/workload"
	"relay/internal/vendors/liasmart/liasmarttest"
	"relay/internal/vendors/plivo/plivotest"
	"relay/internal/vendors/twilio/twiliotest"
	"relay/internal/vendors/vonage/vonagetest"
)

// The "four vendors at once" phase: does one relay confirming for four
// vendors (a consumer and workers each) drain a backlog as fast as it
// drains the same backlog for one vendor.

// fourVendors are the vendors of the phase's four-vendor run: CTrack and
// three whose fakes answer success without a script.
var fourVendors = []workload.Vendor{workload.Liasmart, workload.Twilio, workload.Vonage, workload.Plivo}

// Credentials of the fakes, in each vendor's format.
const (
	twilioAccountSID = "AC0123456789abcdef0123456789abcdef"
	twilioAuthToken  = "bench-twilio-token"
	vonageAPIKey     = "benchkey"
	vonageAPISecret  = "bench-vonage-secret"
	plivoAuthID      = "MABENCHBENCHBENCHBENC"
	plivoAuthToken   = "bench-plivo-token"
)

// The phase's drains, as their runs are named in latest.json and for the
// noise meter.
const (
	vendorsOneRun  = "relay-vendors-one"
	vendorsFourRun = "relay-vendors-four"
)

// vendorFake is one confirm vendor's fake serving a drained relay.
type vendorFake struct {
	name string
	// env is the relay's settings for it, its URL and credentials (for
	// liasmart relayOpts.ctrackURL carries them).
	env      []string
	calls    func() int      // requests received
	doubles  func() int      // message ids called more than once
	problems func() []string // requests off the vendor's documented format
}

func liasmartFake(f *liasmarttest.Fake) *vendorFake {
	return &vendorFake{name: "liasmart", calls: func() int { return len(f.Calls()) },
		doubles: func() int {
			n := 0
			for _, c := range f.ConfirmedIDs() {
				if c > 1 {
					n++
				}
			}
			return n
		}, problems: f.Problems}
}

// delayed holds every answer of next back by latency, as liasmarttest's
// Latency does: the fakes of the other vendors have no latency of their
// own.
func delayed(next http.Handler, latency time.Duration, served *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		time.Sleep(latency)
		next.ServeHTTP(w, r)
	})
}

// startVendorFakes serves a fake of each vendor, answering after latency,
// until ctx ends. ids lists, per vendor, the message ids the run posts
// for it (to find any called twice). For liasmart the relay's settings go
// in o.ctrackURL, for the others in o.env.
func startVendorFakes(ctx context.Context, vendors []workload.Vendor, latency time.Duration, ids map[string][]string, o *relayOpts) ([]*vendorFake, error) {
	var fakes []*vendorFake
	for _, v := range vendors {
		// perID counts one fake's calls for a message id.
		var perID func(string) int
		var handler http.Handler
		vf := &vendorFake{name: v.Name}
		switch v.Name {
		case "liasmart":
			f, u, err := fakeCTrack(ctx, latency)
			if err != nil {
				return nil, err
			}
			o.ctrackURL = u
			fakes = append(fakes, liasmartFake(f))
			continue
		case "twilio":
			f := twiliotest.New(twiliotest.Options{AccountSID: twilioAccountSID, AuthToken: twilioAuthToken})
			handler, perID, vf.problems = f, f.Calls, f.Problems
			vf.env = []string{"RELAY_TWILIO_ACCOUNT_SID=" + twilioAccountSID, "RELAY_TWILIO_AUTH_TOKEN=" + twilioAuthToken}
		case "vonage":
			f := vonagetest.New(vonagetest.Options{APIKey: vonageAPIKey, APISecret: vonageAPISecret})
			handler, perID, vf.problems = f, f.Calls, f.Problems
			vf.env = []string{"RELAY_VONAGE_API_KEY=" + vonageAPIKey, "RELAY_VONAGE_API_SECRET=" + vonageAPISecret}
		case "plivo":
			f := plivotest.New(plivotest.Options{AuthID: plivoAuthID, AuthToken: plivoAuthToken})
			handler, perID, vf.problems = f, f.Calls, f.Problems
			vf.env = []string{"RELAY_PLIVO_AUTH_ID=" + plivoAuthID, "RELAY_PLIVO_AUTH_TOKEN=" + plivoAuthToken}
		default:
			return nil, fmt.Errorf("no fake for vendor %s", v.Name)
		}
		served := new(atomic.Int64)
		u, err := serveLocal(ctx, delayed(handler, latency, served))
		if err != nil {
			return nil, err
		}
		vf.env = append(vf.env, "RELAY_"+strings.ToUpper(v.Name)+"_URL="+u)
		vf.calls = func() int { return int(served.Load()) }
		mine := ids[v.Name]
		vf.doubles = func() int {
			n := 0
			for _, id := range mine {
				if perID(id) > 1 {
					n++
				}
			}
			return n
		}
		o.env = append(o.env, vf.env...)
		fakes = append(fakes, vf)
	}
	return fakes, nil
}

// vendorsRun is one drain of the phase.
type vendorsRun struct {
	Vendors []string `json:"vendors"`
	// Calls is what each vendor's fake received: whether each did its share.
	Calls map[string]int `json:"calls_per_vendor"`
	*drainResult
}

type vendorsResult struct {
	Events        int           `json:"events"`
	VendorLatency time.Duration `json:"vendor_latency_ns"`
	One           *vendorsRun   `json:"one"`
	Four          *vendorsRun   `json:"four"`
	Ratio         float64       `json:"ratio"`
}

// phaseFourVendors drains a backlog with one relay confirming for one
// vendor (liasmart, as the end-to-end phase), then the same number of
// events, spread round-robin, with the same relay settings confirming for
// four at once; each fake answers after -vendor-latency. The ratio of the
// two drains' confirmations/s (measured as the end-to-end phase measures
// them) is what running four vendors costs.
func (h *harness) phaseFourVendors(ctx context.Context) error {
	res := &vendorsResult{Events: h.vendorEvents / h.batchSize * h.batchSize, VendorLatency: h.vendorLatency}
	var err error
	if res.One, err = h.vendorsDrain(ctx, vendorsOneRun, fourVendors[:1], res.Events); err != nil {
		return err
	}
	if res.Four, err = h.vendorsDrain(ctx, vendorsFourRun, fourVendors, res.Events); err != nil {
		return err
	}
	res.Ratio = res.Four.Rate / res.One.Rate
	h.res.vendors = res
	h.report.Runs["four_vendors_vs_one"] = res
	h.logf("  four vendors / one: %.2f× (target ≥ 0.9×)", res.Ratio)
	return nil
}

// vendorsDrain fills a fresh relay with events spread over vendors and
// drains them against a fake of each.
func (h *harness) vendorsDrain(ctx context.Context, name string, vendors []workload.Vendor, events int) (*vendorsRun, error) {
	prefix := strings.TrimPrefix(name, "relay-")
	run := &vendorsRun{Calls: map[string]int{}}
	var names []string
	ids := map[string][]string{}
	for n := range int64(events) {
		v := workload.VendorOf(vendors, n)
		ids[v.Name] = append(ids[v.Name], string(v.ID(nil, prefix, n)))
	}
	for _, v := range vendors {
		names = append(names, v.Name)
	}
	run.Vendors = names
	fakeCtx, stopFakes := context.WithCancel(ctx)
	o := relayOpts{dbURL: h.newDB(strings.ReplaceAll(prefix, "-", "_")), dataDir: filepath.Join(h.tmp, prefix+"-nats"),
		env: []string{"RELAY_CONFIRM_VENDORS=" + strings.Join(names, ",")}}
	fakes, err := startVendorFakes(fakeCtx, vendors, h.vendorLatency, ids, &o)
	if err != nil {
		stopFakes()
		return nil, err
	}
	fillRate, fillHWM, err := h.fillWith(ctx, name+"-fill", o, events, func(base string) *load.Target {
		t := h.batchTarget(base, prefix)
		size := h.batchSize
		t.Body = func(buf []byte, n int64) []byte { return workload.MixedBatch(buf, vendors, prefix, n, size) }
		return t
	})
	if err != nil {
		stopFakes()
		return nil, err
	}
	d, inst, err := h.drainWith(ctx, name, o, events, "", fakes, stopFakes)
	if inst != nil {
		h.stopRelay(inst)
	} else {
		stopFakes()
	}
	if err != nil {
		return nil, err
	}
	d.FillRate, d.FillHWM = fillRate, fillHWM
	run.drainResult = d
	for _, f := range fakes {
		run.Calls[f.name] = f.calls()
	}
	h.logf("  %s: calls per vendor %v", name, run.Calls)
	return run, nil
}

// vendorsFigures adds the phase's figure.
func (h *harness) vendorsFigures() {
	v := h.res.vendors
	if v == nil {
		return
	}
	label := fmt.Sprintf("four vendors at once (%s, %d events round-robin, each fake %s) drain the end-to-end way",
		strings.Join(v.Four.Vendors, ", "), v.Events, v.VendorLatency)
	h.report.add("four_vendors_vs_one", label, v.Four.Rate, "conf/s", v.One.Rate, "one vendor (liasmart), same backlog",
		"≥ 0.9 × one vendor", ratioAtLeast(0.9))
	h.note("Four vendors at once: two relays (RELAY_ROLE=all, embedded NATS, default settings), each on a fresh database, filled through the batch endpoint with %d events and drained as the end-to-end phase drains: the first for liasmart alone, the second with RELAY_CONFIRM_VENDORS=%s and the events spread round-robin (a consumer and workers per vendor, each vendor's RELAY_<VENDOR>_MAX_IN_FLIGHT at its default, RELAY_WORKER_CONCURRENCY). Every fake answers success after %s (the others held back by the harness, as liasmarttest's Latency holds CTrack). Calls per vendor: one %v; four %v.",
		v.Events, strings.Join(v.Four.Vendors, ","), v.VendorLatency, v.One.Calls, v.Four.Calls)
}
