package main

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"relay/internal/metrics"
)

// registeredNames returns the name of every metric relay exports, failing
// the test for a collector of metrics.Metrics that is not registered (it
// would never reach /metrics).
func registeredNames(t *testing.T) map[string]bool {
	t.Helper()
	m := metrics.New()
	names := map[string]bool{}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		names[f.GetName()] = true
	}
	// A vector without children is not gathered yet: read the names from
	// the collectors' descriptions.
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	v := reflect.ValueOf(m).Elem()
	for i := range v.NumField() {
		c, ok := v.Field(i).Interface().(prometheus.Collector)
		if !ok || v.Field(i).IsNil() {
			continue
		}
		if _, isRegistry := c.(*prometheus.Registry); isRegistry {
			continue
		}
		var are prometheus.AlreadyRegisteredError
		if err := m.Registry.Register(c); !errors.As(err, &are) {
			t.Errorf("metrics.Metrics.%s is not registered: it is never exported (%v)", v.Type().Field(i).Name, err)
		}
		ch := make(chan *prometheus.Desc, 8)
		c.Describe(ch)
		close(ch)
		for d := range ch {
			if sub := fqName.FindStringSubmatch(d.String()); sub != nil {
				names[sub[1]] = true
			}
		}
	}
	return names
}

// TestGrafanaDashboardUsesExportedMetrics keeps deploy/grafana/relay.json
// honest: valid dashboard JSON whose every query names a metric relay
// exports.
func TestGrafanaDashboardUsesExportedMetrics(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../deploy/grafana/relay.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Templating    struct {
			List []struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			GridPos struct {
				X, Y, W, H int
			} `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("relay.json is not JSON: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || dash.SchemaVersion < 30 || len(dash.Panels) == 0 {
		t.Fatalf("not a dashboard: title %q uid %q schemaVersion %d, %d panels", dash.Title, dash.UID, dash.SchemaVersion, len(dash.Panels))
	}
	vars := map[string]string{}
	for _, v := range dash.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Error("the dashboard needs a datasource variable, so it imports into any Grafana")
	}

	exported := registeredNames(t)
	metricRef := regexp.MustCompile(`\b(?:relay|go|process)_[a-z0-9_]+\b`)
	ids := map[int]bool{}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.GridPos.W == 0 || p.GridPos.H == 0 || len(p.Targets) == 0 {
			t.Errorf("panel %d %q lacks a title, a size or queries", p.ID, p.Title)
		}
		for _, target := range p.Targets {
			refs := metricRef.FindAllString(target.Expr, -1)
			if len(refs) == 0 || target.RefID == "" {
				t.Errorf("panel %q: query %q names no metric or has no refId", p.Title, target.Expr)
			}
			for _, name := range refs {
				base := name
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(name, suffix); ok && exported[b] {
						base = b
					}
				}
				if !exported[base] {
					t.Errorf("panel %q queries %s, which relay does not export", p.Title, name)
				}
				used[base] = true
			}
		}
	}
	// Panels share no cell of the grid: Grafana would push one down.
	cells := map[[2]int]string{}
	for _, p := range dash.Panels {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
	}
	// Each vendor's calls per minute by answer code and its latency p95,
	// in a row of their own.
	vendorQueries := map[string]*regexp.Regexp{
		"calls per minute": regexp.MustCompile(`^60 \* sum by \(vendor, code\) \(rate\(relay_vendor_call_duration_seconds_count\{`),
		"latency p95":      regexp.MustCompile(`^histogram_quantile\(0\.95, sum by \(le, vendor\) \(rate\(relay_vendor_call_duration_seconds_bucket\{`),
		"pause kind":       regexp.MustCompile(`^max by \(vendor, kind\) \(relay_vendor_paused_kind\{`),
	}
	row := ""
	for _, p := range dash.Panels {
		if p.Type == "row" {
			row = p.Title
			continue
		}
		for _, target := range p.Targets {
			for what, re := range vendorQueries {
				if re.MatchString(target.Expr) && row == "Vendors" {
					delete(vendorQueries, what)
				}
			}
		}
	}
	for what := range vendorQueries {
		t.Errorf("the Vendors row has no panel of each vendor's %s", what)
	}
	// The metrics operators page on must be on the dashboard.
	for _, name := range []string{"relay_ingest_requests_total", "relay_events_total", "relay_vendor_paused", "relay_vendor_paused_kind",
		"relay_consumer_pending_messages", "relay_retries_scheduled_total", "relay_replays_total", "relay_replayed_events_total"} {
		if !used[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
