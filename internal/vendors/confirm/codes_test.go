package confirm_test

import (
	"testing"

	"relay/internal/vendors/confirm"
)

func TestCodes(t *testing.T) {
	t.Parallel()
	codes := confirm.Codes{
		Exact: map[string]confirm.Rule{
			"ok":                          {Outcome: confirm.Confirmed, Meaning: "recorded"},
			"authfailure.signatureexpire": {Outcome: confirm.Transient, Meaning: "clock off"},
		},
		Prefixes: []confirm.Prefix{
			{Prefix: "authfailure", Rule: confirm.Rule{Outcome: confirm.Credentials, Meaning: "refused"}},
			{Prefix: "auth", Rule: confirm.Rule{Outcome: confirm.Permanent, Meaning: "never reached: the first prefix wins"}},
		},
	}
	for _, c := range []struct {
		code    string
		outcome confirm.Outcome
		meaning string
	}{
		{"OK", confirm.Confirmed, "recorded"},
		{"ok", confirm.Confirmed, "recorded"},
		{"AuthFailure.SignatureExpire", confirm.Transient, "clock off"}, // exact before prefix
		{"AuthFailure.SecretIdNotFound", confirm.Credentials, "refused"},
		{"Authx", confirm.Permanent, "never reached: the first prefix wins"},
		{"Whatever", confirm.Transient, "undocumented code"},
		{"", confirm.Transient, "undocumented code"},
	} {
		if got := codes.Outcome(c.code); got != c.outcome {
			t.Errorf("Outcome(%q) = %s, want %s", c.code, got, c.outcome)
		}
		if got := codes.Meaning(c.code); got != c.meaning {
			t.Errorf("Meaning(%q) = %q, want %q", c.code, got, c.meaning)
		}
	}
}
