package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"relay/bench/internal/proc"
)

// Figure is one reported number, next to what it is compared with.
type Figure struct {
	Name  string  `json:"name"`
	Label string  `json:"label"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Baseline is the value Ratio divides by, named by BaselineName.
	Baseline     *float64 `json:"baseline"`
	BaselineName string   `json:"baseline_name,omitempty"`
	Ratio        *float64 `json:"ratio"`
	// Target is the goal in words; Met is nil for figures without one,
	// and for noisy figures.
	Target string `json:"target,omitempty"`
	Met    *bool  `json:"met"`
	// OtherCores is the most CPU other processes used (cores) during the
	// runs the figure comes from; above noiseLimit the figure is Noisy and
	// its target is not judged.
	OtherCores *float64 `json:"other_cores,omitempty"`
	Noisy      bool     `json:"noisy,omitempty"`
}

// CPURow is one line of the "where the CPU went" table.
type CPURow struct {
	Run, Rate, P50, P99, P999 string
	CPU                       proc.Split
}

// Report is bench/results/latest.json.
type Report struct {
	Revision  string       `json:"revision"`
	Machine   proc.Machine `json:"machine"`
	StartedAt time.Time    `json:"started_at"`
	DurationS float64      `json:"duration_s"`
	Profile   bool         `json:"profile"`
	// CPUProfiles: CPU profiles of the ingest and end-to-end runs were
	// taken (bench/results/*.cpu.prof).
	CPUProfiles bool           `json:"cpu_profiles"`
	Settings    map[string]any `json:"settings"`
	Figures     []Figure       `json:"figures"`
	Runs        map[string]any `json:"runs"`
	Notes       []string       `json:"notes"`
	CPUTable    []CPURow       `json:"-"`
	Errors      []string       `json:"errors,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// add records a figure. baseline 0 means none; check, when set, decides
// whether the target is met from the value and the ratio.
func (r *Report) add(name, label string, value float64, unit string, baseline float64, baselineName, target string, check func(v, ratio float64) bool) {
	f := Figure{Name: name, Label: label, Value: value, Unit: unit, Target: target}
	ratio := math.NaN()
	if baseline > 0 {
		f.Baseline, f.BaselineName = ptr(baseline), baselineName
		ratio = value / baseline
		f.Ratio = ptr(round(ratio, 3))
	}
	if check != nil {
		f.Met = ptr(check(value, ratio))
	}
	f.Value = round(value, 3)
	r.Figures = append(r.Figures, f)
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func atLeast(x float64) func(v, ratio float64) bool { return func(v, _ float64) bool { return v >= x } }
func below(x float64) func(v, ratio float64) bool   { return func(v, _ float64) bool { return v < x } }
func ratioAtLeast(x float64) func(v, ratio float64) bool {
	return func(_, r float64) bool { return !math.IsNaN(r) && r >= x }
}

// num formats v with thousands separators and sensible precision.
func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case math.Abs(v) >= 1000:
		s := fmt.Sprintf("%.0f", v)
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		var b strings.Builder
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	case math.Abs(v) >= 100:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	case math.Abs(v) >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// Markdown renders the figures table and the run details.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "relay benchmark — revision `%s`, %s, %d cores (%s), %d MiB, %s, Linux %s, %s",
		r.Revision, r.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), r.Machine.Cores, r.Machine.CPU,
		r.Machine.MemoryMiB, r.Machine.Go, r.Machine.Kernel, r.Machine.PostgreSQL)
	if r.Profile {
		b.WriteString(" — **profiling on** (CPU profiler running in relay during the runs)")
	} else if r.CPUProfiles {
		b.WriteString(" — CPU profiles of relay's ingest and end-to-end runs saved next to this file (*.cpu.prof)")
	}
	fmt.Fprintf(&b, "; whole run %.0f s.\n\n", r.DurationS)
	b.WriteString("| figure | value | baseline | ratio | target | met |\n|---|---:|---|---:|---|:-:|\n")
	for _, f := range r.Figures {
		base, ratio := "—", "—"
		if f.Baseline != nil {
			base = fmt.Sprintf("%s %s %s", f.BaselineName, num(*f.Baseline), f.Unit)
			ratio = fmt.Sprintf("%.2f", *f.Ratio)
		}
		met := ""
		if f.Noisy {
			met = fmt.Sprintf("noisy (%.2f cores other load)", *f.OtherCores)
		} else if f.Met != nil {
			met = "✗"
			if *f.Met {
				met = "✓"
			}
		}
		target := f.Target
		if target == "" {
			target = "—"
		}
		fmt.Fprintf(&b, "| %s | %s %s | %s | %s | %s | %s |\n", f.Label, num(f.Value), f.Unit, base, ratio, target, met)
	}
	if len(r.CPUTable) > 0 {
		b.WriteString("\nWhere the time and the CPU went (cores = CPU seconds per second of the run; \"other\" = machine busy time not charged to relay, PostgreSQL or the harness):\n\n")
		b.WriteString("| run | rate | p50 | p99 | p99.9 | server | PostgreSQL | harness | other | machine busy |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, row := range r.CPUTable {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f | %.2f | %.2f | %.2f | %.2f |\n", row.Run, row.Rate, row.P50, row.P99, row.P999,
				row.CPU.Server, row.CPU.Postgres, row.CPU.Harness, row.CPU.Other, row.CPU.Machine)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("\n**Errors:**\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(e, "\n", " "))
		}
	}
	return b.String()
}

// write stores latest.md and latest.json in dir.
func (r *Report) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "latest.md"), []byte(r.Markdown()), 0o644); err != nil {
		return err
	}
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "latest.json"), append(data, '\n'), 0o644)
}
