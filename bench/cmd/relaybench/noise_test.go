package main

import (
	"os"
	"strings"
	"testing"
)

func TestNoisyFiguresAreNeverMet(t *testing.T) {
	t.Parallel()
	h := &harness{report: &Report{Runs: map[string]any{}}}
	h.setOther("relay_ingest_single", 0.05)
	h.setOther("naive_async_publish_single", 0.45) // the baseline's run was disturbed
	h.setOther("relay-e2e", 0.1)
	h.setOther("naive-worker", 0.2)
	r := h.report
	r.add("ingest_single_vs_naive_async", "single", 100, "req/s", 90, "naive async", "≥ 0.9 ×", ratioAtLeast(0.9))
	r.add("e2e_vs_naive_worker", "e2e", 90, "conf/s", 100, "naive worker", "≥ 0.8 ×", ratioAtLeast(0.8))
	r.add("relay_peak_rss", "rss", 100, "MiB", 0, "", "< 150 MiB", below(150))
	h.markNoise()

	noisy, quiet, mem := r.Figures[0], r.Figures[1], r.Figures[2]
	if !noisy.Noisy || noisy.Met != nil || noisy.OtherCores == nil || *noisy.OtherCores != 0.45 {
		t.Errorf("figure with a disturbed baseline run: noisy %v, met %v, other %v; want noisy, met nil, other 0.45",
			noisy.Noisy, noisy.Met, noisy.OtherCores)
	}
	if quiet.Noisy || quiet.Met == nil || !*quiet.Met || quiet.OtherCores == nil || *quiet.OtherCores != 0.2 {
		t.Errorf("quiet figure: noisy %v, met %v, other %v; want met, other 0.2", quiet.Noisy, quiet.Met, quiet.OtherCores)
	}
	if mem.Noisy || mem.OtherCores != nil || mem.Met == nil || !*mem.Met {
		t.Errorf("memory figure: noisy %v, other %v, met %v; want it judged and not marked", mem.Noisy, mem.OtherCores, mem.Met)
	}
	md := r.Markdown()
	if !strings.Contains(md, "noisy (0.45 cores other load)") || strings.Count(md, "✓") != 2 {
		t.Errorf("markdown does not show the noisy figure as noisy and the two others as met:\n%s", md)
	}
}

func TestFigureRunsNameKnownFigures(t *testing.T) {
	t.Parallel()
	// A figure named in figureRuns but never added would be a typo that
	// leaves the real figure unmarked; every name must be one figures()
	// or figuresRound2() or vendorsFigures() can add.
	var src string
	for _, f := range []string{"figures.go", "figures2.go", "phase_vendors.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src += string(b)
	}
	for name := range figureRuns {
		if !strings.Contains(src, `"`+name+`"`) {
			t.Errorf("figureRuns names %q, which no figure has", name)
		}
	}
}

func TestFourVendorsFigureIsTheRatioAndNoiseMarked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		one, four  float64
		other      float64 // during the four-vendor drain
		met, noisy bool
		wantRatio  float64
	}{
		{name: "quiet, met", one: 5000, four: 4600, other: 0.1, met: true, wantRatio: 0.92},
		{name: "quiet, missed", one: 5000, four: 4000, other: 0.1, wantRatio: 0.8},
		{name: "noisy", one: 5000, four: 4600, other: 0.5, noisy: true, wantRatio: 0.92},
	} {
		h := &harness{report: &Report{Runs: map[string]any{}}}
		h.res.vendors = &vendorsResult{Events: 40000,
			One:  &vendorsRun{Vendors: []string{"liasmart"}, drainResult: &drainResult{Rate: tc.one}},
			Four: &vendorsRun{Vendors: []string{"liasmart", "twilio", "vonage", "plivo"}, drainResult: &drainResult{Rate: tc.four}}}
		h.setOther(vendorsOneRun, 0.05)
		h.setOther(vendorsFourRun, tc.other)
		h.vendorsFigures()
		h.markNoise()
		var f *Figure
		for i := range h.report.Figures {
			if h.report.Figures[i].Name == "four_vendors_vs_one" {
				f = &h.report.Figures[i]
			}
		}
		if f == nil {
			t.Fatalf("%s: no four_vendors_vs_one figure in %+v", tc.name, h.report.Figures)
		}
		if f.Ratio == nil || *f.Ratio != tc.wantRatio || f.Value != tc.four {
			t.Errorf("%s: value %v ratio %v, want %v and %v", tc.name, f.Value, f.Ratio, tc.four, tc.wantRatio)
		}
		if f.Noisy != tc.noisy || f.OtherCores == nil || *f.OtherCores != tc.other {
			t.Errorf("%s: noisy %v other %v, want noisy %v other %v", tc.name, f.Noisy, f.OtherCores, tc.noisy, tc.other)
		}
		switch {
		case tc.noisy && f.Met != nil:
			t.Errorf("%s: a noisy figure is judged: met %v", tc.name, *f.Met)
		case !tc.noisy && (f.Met == nil || *f.Met != tc.met):
			t.Errorf("%s: met %v, want %v", tc.name, f.Met, tc.met)
		}
	}
}
