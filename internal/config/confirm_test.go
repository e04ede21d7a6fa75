package config

import (
	"strings"
	"testing"
)

func TestConfirmVendors(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"RELAY_CONFIRM_VENDORS":      "liasmart, twilio,tencent",
		"RELAY_TWILIO_ACCOUNT_SID":   "AC0123456789abcdef0123456789abcdef",
		"RELAY_TWILIO_AUTH_TOKEN":    "twilio-auth-token-0123456789",
		"RELAY_TWILIO_MAX_IN_FLIGHT": "8",
		"RELAY_TWILIO_RATE":          "100/s",
		"RELAY_TENCENT_SECRET_ID":    "AKIDexample",
	}))
	if err == nil || !strings.Contains(err.Error(), "RELAY_TENCENT_SECRET_ID and RELAY_TENCENT_SECRET_KEY must be set together") {
		t.Fatalf("half a Tencent pair: %v", err)
	}
	c, err := Load(env(map[string]string{
		"RELAY_CONFIRM_VENDORS":      "liasmart, twilio,tencent",
		"RELAY_TWILIO_ACCOUNT_SID":   "AC0123456789abcdef0123456789abcdef",
		"RELAY_TWILIO_AUTH_TOKEN":    "twilio-auth-token-0123456789",
		"RELAY_TWILIO_MAX_IN_FLIGHT": "8",
		"RELAY_TWILIO_RATE":          "100/s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	got := c.EnabledConfirmVendors()
	if len(got) != 3 || got[0].Name != "liasmart" || got[1].Name != "twilio" || got[2].Name != "tencent" {
		t.Fatalf("enabled %+v, want liasmart, twilio, tencent in that order", got)
	}
	if got[0].Configured || !got[1].Configured || got[2].Configured {
		t.Errorf("configured: liasmart %v twilio %v tencent %v, want only twilio", got[0].Configured, got[1].Configured, got[2].Configured)
	}
	if got[1].Limits != (Limits{MaxInFlight: 8, Rate: 100}) || got[0].Limits != (Limits{}) {
		t.Errorf("limits twilio %+v liasmart %+v", got[1].Limits, got[0].Limits)
	}
	if c.InFlight(got[1]) != 8 || c.InFlight(got[0]) != c.WorkerConcurrency {
		t.Errorf("in flight: twilio %d, liasmart %d (RELAY_WORKER_CONCURRENCY %d)", c.InFlight(got[1]), c.InFlight(got[0]), c.WorkerConcurrency)
	}
	if c.Tencent.Region != "ap-guangzhou" {
		t.Errorf("RELAY_TENCENT_REGION default %q", c.Tencent.Region)
	}
}

func TestConfirmVendorsProblemsByName(t *testing.T) {
	t.Parallel()
	_, err := Load(env(map[string]string{
		"RELAY_CONFIRM_VENDORS":       "liasmart,acme,liasmart",
		"RELAY_VONAGE_MAX_IN_FLIGHT":  "-1",
		"RELAY_TWILIO_RATE":           "fast",
		"RELAY_TWILIO_API_KEY_SECRET": "twilio-key-secret-0123456789",
	}))
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`RELAY_CONFIRM_VENDORS: "acme" is not a vendor relay confirms with`,
		`RELAY_CONFIRM_VENDORS names "liasmart" twice`,
		"RELAY_VONAGE_MAX_IN_FLIGHT=-1",
		"RELAY_TWILIO_RATE",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q: %v", want, msg)
		}
	}
	// Twilio is not enabled: its half key pair is not this deployment's
	// problem, and a secret is never echoed.
	if strings.Contains(msg, "RELAY_TWILIO_API_KEY_SID") || strings.Contains(msg, "twilio-key-secret") {
		t.Errorf("error about a vendor not enabled, or a secret: %v", msg)
	}
	if _, err := Load(env(map[string]string{"RELAY_CONFIRM_VENDORS": "vonage", "RELAY_VONAGE_URL": "ftp://x"})); err == nil ||
		!strings.Contains(err.Error(), `RELAY_VONAGE_URL="ftp://x": want http(s)://host`) {
		t.Errorf("bad URL of an enabled vendor: %v", err)
	}
}

func TestEveryConfirmVendorIsKnown(t *testing.T) {
	t.Parallel()
	c := Defaults()
	for _, name := range ConfirmVendorNames {
		v, ok := c.ConfirmVendor(name)
		if !ok || v.Name != name {
			t.Errorf("%s: not known to ConfirmVendor", name)
		}
	}
	if _, ok := c.ConfirmVendor("acme"); ok {
		t.Error("acme is known")
	}
}

// TestParseRateRefusesNonNumbers: strconv reads "NaN" and "Inf" as
// floats; as a rate either would reach the workers' permits as no number
// PostgreSQL can count with.
func TestParseRateRefusesNonNumbers(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"NaN", "nan/s", "Inf", "+inf/m", "-Inf", "1e400/s", "-1/s"} {
		if r, err := ParseRate(s); err == nil {
			t.Errorf("ParseRate(%q) = %v, want an error", s, r)
		}
	}
	for s, want := range map[string]float64{"0": 0, "100/s": 100, "60/m": 1, "3600/h": 1, "2.5": 2.5} {
		if r, err := ParseRate(s); err != nil || r != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", s, r, err, want)
		}
	}
}
