package ops

import (
	"context"
	"math"
	"time"

	"relay/internal/store"
)

// VendorWindow is the span of recent calls a vendor's call rate and
// latency describe.
const VendorWindow = 5 * time.Minute

// An enabled vendor's states.
const (
	// VendorActive: relay calls it.
	VendorActive = "active"
	// VendorPaused: no replica calls it until a probe succeeds or an
	// operator resumes it; PauseKind says why.
	VendorPaused = "paused"
	// VendorNotConfigured: its credentials are not set, so its events
	// wait, paused, whatever its pause row says.
	VendorNotConfigured = "not_configured"
)

// VendorView is one enabled vendor as operators see it: its state and
// what its calls of the last VendorWindow came to, across the fleet.
type VendorView struct {
	Vendor string `json:"vendor"`
	State  string `json:"state"`
	// PauseKind is "credentials" or "unavailable" while paused.
	PauseKind string     `json:"pause_kind,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	PausedAt  *time.Time `json:"paused_at,omitempty"`
	// Calls counts the calls started in the window; CallsPerMinute is
	// their mean rate over it.
	Calls          int64   `json:"calls"`
	CallsPerMinute float64 `json:"calls_per_minute"`
	// Latencies are null without a call in the window.
	LatencyP50 *float64 `json:"latency_ms_p50"`
	LatencyP95 *float64 `json:"latency_ms_p95"`
}

// VendorsView is every enabled vendor at once: `relay status` without an
// event.
type VendorsView struct {
	WindowSeconds int          `json:"window_seconds"`
	Vendors       []VendorView `json:"vendors"`
	At            time.Time    `json:"at"`
}

// Vendors reads each enabled vendor's state and recent calls.
func (s *Service) Vendors(ctx context.Context) (VendorsView, error) {
	statuses, err := s.store.VendorStatuses(ctx)
	if err != nil {
		return VendorsView{}, err
	}
	vs, err := s.vendorViews(ctx, statuses)
	if err != nil {
		return VendorsView{}, err
	}
	return VendorsView{WindowSeconds: int(VendorWindow / time.Second), Vendors: vs, At: s.now().UTC()}, nil
}

// vendorViews joins the enabled vendors, their pause rows and one
// aggregate of the window's calls for all of them.
func (s *Service) vendorViews(ctx context.Context, statuses []store.VendorStatus) ([]VendorView, error) {
	out := make([]VendorView, 0, len(s.vendors))
	if len(s.vendors) == 0 {
		return out, nil
	}
	to := s.now()
	calls, err := s.store.VendorCallStats(ctx, to.Add(-VendorWindow), to)
	if err != nil {
		return nil, err
	}
	byVendor := make(map[string]store.VendorCalls, len(calls))
	for _, c := range calls {
		byVendor[c.Vendor] = c
	}
	status := make(map[string]store.VendorStatus, len(statuses))
	for _, st := range statuses {
		status[st.Vendor] = st
	}
	for _, name := range s.vendors {
		v := VendorView{Vendor: name, State: VendorActive}
		switch st := status[name]; {
		case s.unconfigured[name]:
			v.State = VendorNotConfigured
		case st.Paused:
			v.State, v.PauseKind, v.Reason, v.PausedAt = VendorPaused, st.Kind, st.Reason, utc(st.PausedAt)
		}
		if c, ok := byVendor[name]; ok && c.Calls > 0 {
			v.Calls = c.Calls
			v.CallsPerMinute = math.Round(float64(c.Calls)/VendorWindow.Minutes()*100) / 100
			v.LatencyP50, v.LatencyP95 = roundMS(&c.LatencyP50), roundMS(&c.LatencyP95)
		}
		out = append(out, v)
	}
	return out, nil
}

func setOf(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
