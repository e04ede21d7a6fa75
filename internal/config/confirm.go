package config

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// ConfirmVendorNames are the vendors relay confirms conversions with, in
// the order the documentation lists them; RELAY_CONFIRM_VENDORS names a
// subset.
var ConfirmVendorNames = []string{"liasmart", "twilio", "vonage", "aws", "telesign", "plivo", "tencent", "alibaba"}

// Limits are a confirm vendor's own bounds: calls in flight per process
// (0: RELAY_WORKER_CONCURRENCY) and calls per second across the fleet
// (0: off).
type Limits struct {
	MaxInFlight int
	Rate        Rate
}

// Twilio holds the Message Feedback client settings. Either the auth
// token or an API key pair authenticates; the account SID is in the path.
type Twilio struct {
	URL          string `env:"RELAY_TWILIO_URL" envDefault:"https://api.twilio.com"`
	AccountSID   string `env:"RELAY_TWILIO_ACCOUNT_SID"`
	AuthToken    string `env:"RELAY_TWILIO_AUTH_TOKEN" secret:"true"`
	APIKeySID    string `env:"RELAY_TWILIO_API_KEY_SID"`
	APIKeySecret string `env:"RELAY_TWILIO_API_KEY_SECRET" secret:"true"`
	MaxInFlight  int    `env:"RELAY_TWILIO_MAX_IN_FLIGHT" envDefault:"0"`
	Rate         Rate   `env:"RELAY_TWILIO_RATE" envDefault:"0"`
}

// Configured reports whether Twilio credentials were given.
func (t Twilio) Configured() bool {
	return t.AccountSID != "" && (t.AuthToken != "" || (t.APIKeySID != "" && t.APIKeySecret != ""))
}

// Vonage holds the Conversion API client settings.
type Vonage struct {
	URL         string `env:"RELAY_VONAGE_URL" envDefault:"https://api.nexmo.com"`
	APIKey      string `env:"RELAY_VONAGE_API_KEY"`
	APISecret   string `env:"RELAY_VONAGE_API_SECRET" secret:"true"`
	MaxInFlight int    `env:"RELAY_VONAGE_MAX_IN_FLIGHT" envDefault:"0"`
	Rate        Rate   `env:"RELAY_VONAGE_RATE" envDefault:"0"`
}

// Configured reports whether Vonage credentials were given.
func (v Vonage) Configured() bool { return v.APIKey != "" && v.APISecret != "" }

// AWS holds the End User Messaging SMS client settings. Credentials come
// from the AWS SDK's default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, web
// identity, ...), never from relay's own variables.
type AWS struct {
	Region string `env:"RELAY_AWS_REGION"`
	// Endpoint, when set, is the full base URL instead of the SDK's
	// regional endpoint.
	Endpoint    string `env:"RELAY_AWS_ENDPOINT"`
	MaxInFlight int    `env:"RELAY_AWS_MAX_IN_FLIGHT" envDefault:"0"`
	Rate        Rate   `env:"RELAY_AWS_RATE" envDefault:"0"`
}

// Configured reports whether a region was given: the credentials are the
// SDK's business.
func (a AWS) Configured() bool { return a.Region != "" }

// Telesign holds the Verify completion client settings.
type Telesign struct {
	URL         string `env:"RELAY_TELESIGN_URL" envDefault:"https://rest-ww.telesign.com"`
	CustomerID  string `env:"RELAY_TELESIGN_CUSTOMER_ID"`
	APIKey      string `env:"RELAY_TELESIGN_API_KEY" secret:"true"`
	MaxInFlight int    `env:"RELAY_TELESIGN_MAX_IN_FLIGHT" envDefault:"0"`
	Rate        Rate   `env:"RELAY_TELESIGN_RATE" envDefault:"0"`
}

// Configured reports whether Telesign credentials were given.
func (t Telesign) Configured() bool { return t.CustomerID != "" && t.APIKey != "" }

// Plivo holds the conversion feedback client settings.
type Plivo struct {
	URL         string `env:"RELAY_PLIVO_URL" envDefault:"https://api.plivo.com"`
	AuthID      string `env:"RELAY_PLIVO_AUTH_ID"`
	AuthToken   string `env:"RELAY_PLIVO_AUTH_TOKEN" secret:"true"`
	MaxInFlight int    `env:"RELAY_PLIVO_MAX_IN_FLIGHT" envDefault:"0"`
	Rate        Rate   `env:"RELAY_PLIVO_RATE" envDefault:"0"`
}

// Configured reports whether Plivo credentials were given.
func (p Plivo) Configured() bool { return p.AuthID != "" && p.AuthToken != "" }

// Tencent holds the Tencent Cloud SMS ReportConversion client settings.
type Tencent struct {
	URL         string `env:"RELAY_TENCENT_URL" envDefault:"https://sms.tencentcloudapi.com"`
	SecretID    string `env:"RELAY_TENCENT_SECRET_ID"`
	SecretKey   string `env:"RELAY_TENCENT_SECRET_KEY" secret:"true"`
	SMSSDKAppID string `env:"RELAY_TENCENT_SMS_SDK_APP_ID"`
	Region      string `env:"RELAY_TENCENT_REGION" envDefault:"ap-guangzhou"`
	MaxInFlight int    `env:"RELAY_TENCENT_MAX_IN_FLIGHT" envDefault:"0"`
	Rate        Rate   `env:"RELAY_TENCENT_RATE" envDefault:"0"`
}

// Configured reports whether Tencent credentials and the SMS app were given.
func (t Tencent) Configured() bool {
	return t.SecretID != "" && t.SecretKey != "" && t.SMSSDKAppID != ""
}

// Alibaba holds the Alibaba Cloud SMS SmsConversionIntl client settings.
type Alibaba struct {
	URL             string `env:"RELAY_ALIBABA_URL" envDefault:"https://dysmsapi.aliyuncs.com"`
	AccessKeyID     string `env:"RELAY_ALIBABA_ACCESS_KEY_ID"`
	AccessKeySecret string `env:"RELAY_ALIBABA_ACCESS_KEY_SECRET" secret:"true"`
	MaxInFlight     int    `env:"RELAY_ALIBABA_MAX_IN_FLIGHT" envDefault:"0"`
	Rate            Rate   `env:"RELAY_ALIBABA_RATE" envDefault:"0"`
}

// Configured reports whether Alibaba credentials were given.
func (a Alibaba) Configured() bool { return a.AccessKeyID != "" && a.AccessKeySecret != "" }

// ConfirmVendor is what is configured of one confirm vendor.
type ConfirmVendor struct {
	Name string
	// Configured: its credentials are set (without them its events wait,
	// paused).
	Configured bool
	Limits     Limits
	// urls are its base URL variables and values, for validation.
	urls map[string]string
	// pairs are variables that must be set together.
	pairs [][2]string
	vals  map[string]string
}

// ConfirmVendor returns what is configured of the confirm vendor name;
// false for a name relay does not know.
func (c Config) ConfirmVendor(name string) (ConfirmVendor, bool) {
	switch name {
	case "liasmart":
		l := c.Liasmart
		return ConfirmVendor{Name: name, Configured: l.Configured(), Limits: Limits{l.MaxInFlight, l.Rate},
			urls: map[string]string{"RELAY_LIASMART_URL": l.URL}}, true
	case "twilio":
		t := c.Twilio
		return ConfirmVendor{Name: name, Configured: t.Configured(), Limits: Limits{t.MaxInFlight, t.Rate},
			urls:  map[string]string{"RELAY_TWILIO_URL": t.URL},
			pairs: [][2]string{{"RELAY_TWILIO_API_KEY_SID", "RELAY_TWILIO_API_KEY_SECRET"}},
			vals:  map[string]string{"RELAY_TWILIO_API_KEY_SID": t.APIKeySID, "RELAY_TWILIO_API_KEY_SECRET": t.APIKeySecret}}, true
	case "vonage":
		v := c.Vonage
		return ConfirmVendor{Name: name, Configured: v.Configured(), Limits: Limits{v.MaxInFlight, v.Rate},
			urls:  map[string]string{"RELAY_VONAGE_URL": v.URL},
			pairs: [][2]string{{"RELAY_VONAGE_API_KEY", "RELAY_VONAGE_API_SECRET"}},
			vals:  map[string]string{"RELAY_VONAGE_API_KEY": v.APIKey, "RELAY_VONAGE_API_SECRET": v.APISecret}}, true
	case "aws":
		a := c.AWS
		urls := map[string]string{}
		if a.Endpoint != "" {
			urls["RELAY_AWS_ENDPOINT"] = a.Endpoint
		}
		return ConfirmVendor{Name: name, Configured: a.Configured(), Limits: Limits{a.MaxInFlight, a.Rate}, urls: urls}, true
	case "telesign":
		t := c.Telesign
		return ConfirmVendor{Name: name, Configured: t.Configured(), Limits: Limits{t.MaxInFlight, t.Rate},
			urls:  map[string]string{"RELAY_TELESIGN_URL": t.URL},
			pairs: [][2]string{{"RELAY_TELESIGN_CUSTOMER_ID", "RELAY_TELESIGN_API_KEY"}},
			vals:  map[string]string{"RELAY_TELESIGN_CUSTOMER_ID": t.CustomerID, "RELAY_TELESIGN_API_KEY": t.APIKey}}, true
	case "plivo":
		p := c.Plivo
		return ConfirmVendor{Name: name, Configured: p.Configured(), Limits: Limits{p.MaxInFlight, p.Rate},
			urls:  map[string]string{"RELAY_PLIVO_URL": p.URL},
			pairs: [][2]string{{"RELAY_PLIVO_AUTH_ID", "RELAY_PLIVO_AUTH_TOKEN"}},
			vals:  map[string]string{"RELAY_PLIVO_AUTH_ID": p.AuthID, "RELAY_PLIVO_AUTH_TOKEN": p.AuthToken}}, true
	case "tencent":
		t := c.Tencent
		return ConfirmVendor{Name: name, Configured: t.Configured(), Limits: Limits{t.MaxInFlight, t.Rate},
			urls:  map[string]string{"RELAY_TENCENT_URL": t.URL},
			pairs: [][2]string{{"RELAY_TENCENT_SECRET_ID", "RELAY_TENCENT_SECRET_KEY"}},
			vals:  map[string]string{"RELAY_TENCENT_SECRET_ID": t.SecretID, "RELAY_TENCENT_SECRET_KEY": t.SecretKey}}, true
	case "alibaba":
		a := c.Alibaba
		return ConfirmVendor{Name: name, Configured: a.Configured(), Limits: Limits{a.MaxInFlight, a.Rate},
			urls:  map[string]string{"RELAY_ALIBABA_URL": a.URL},
			pairs: [][2]string{{"RELAY_ALIBABA_ACCESS_KEY_ID", "RELAY_ALIBABA_ACCESS_KEY_SECRET"}},
			vals:  map[string]string{"RELAY_ALIBABA_ACCESS_KEY_ID": a.AccessKeyID, "RELAY_ALIBABA_ACCESS_KEY_SECRET": a.AccessKeySecret}}, true
	}
	return ConfirmVendor{}, false
}

// InFlight is how many calls vendor v may have in flight per process:
// RELAY_<VENDOR>_MAX_IN_FLIGHT, or RELAY_WORKER_CONCURRENCY where that is 0.
func (c Config) InFlight(v ConfirmVendor) int {
	if v.Limits.MaxInFlight > 0 {
		return v.Limits.MaxInFlight
	}
	return c.WorkerConcurrency
}

// EnabledConfirmVendors is what is configured of each vendor
// RELAY_CONFIRM_VENDORS names, in its order.
func (c Config) EnabledConfirmVendors() []ConfirmVendor {
	var out []ConfirmVendor
	for _, name := range c.ConfirmVendors {
		if v, ok := c.ConfirmVendor(name); ok {
			out = append(out, v)
		}
	}
	return out
}

// validateConfirmVendors checks RELAY_CONFIRM_VENDORS and the settings of
// the vendors it names.
func (c Config) validateConfirmVendors() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if len(c.ConfirmVendors) == 0 {
		bad("RELAY_CONFIRM_VENDORS is empty: name at least one of %s", strings.Join(ConfirmVendorNames, ", "))
	}
	seen := map[string]bool{}
	for _, name := range c.ConfirmVendors {
		switch {
		case !slices.Contains(ConfirmVendorNames, name):
			bad("RELAY_CONFIRM_VENDORS: %q is not a vendor relay confirms with (one of %s)", truncated(name, 40), strings.Join(ConfirmVendorNames, ", "))
		case seen[name]:
			bad("RELAY_CONFIRM_VENDORS names %q twice", name)
		}
		seen[name] = true
	}
	for _, name := range ConfirmVendorNames {
		v, _ := c.ConfirmVendor(name)
		upper := strings.ToUpper(name)
		if v.Limits.MaxInFlight < 0 {
			bad("RELAY_%s_MAX_IN_FLIGHT=%d: want 0 (RELAY_WORKER_CONCURRENCY) or more", upper, v.Limits.MaxInFlight)
		}
		if !seen[name] {
			continue
		}
		for variable, value := range v.urls {
			if u, err := url.Parse(value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("%s=%q: want http(s)://host", variable, truncated(value, 80))
			}
		}
		for _, p := range v.pairs {
			if (v.vals[p[0]] == "") != (v.vals[p[1]] == "") {
				bad("%s and %s must be set together", p[0], p[1])
			}
		}
	}
	return errs
}

func truncated(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
