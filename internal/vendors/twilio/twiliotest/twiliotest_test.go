package twiliotest_test

import (
	"net/http"
	"strings"
	"testing"

	"relay/internal/vendors/twilio/twiliotest"
)

const account = "ACa1b2c3d4e5f60718293a4b5c6d7e8f90"

// TestProblems: each way off Twilio's documented request is noticed.
func TestProblems(t *testing.T) {
	t.Parallel()
	sid := twiliotest.MessageSID(1)
	path := "/2010-04-01/Accounts/" + account + "/Messages/" + sid + "/Feedback.json"
	for _, c := range []struct {
		name, method, path, contentType, body string
		auth                                  bool
		want                                  string
	}{
		{"as documented", "POST", path, "application/x-www-form-urlencoded", "Outcome=confirmed", true, ""},
		{"JSON body", "POST", path, "application/json", `{"Outcome":"confirmed"}`, true, "Content-Type"},
		{"extra field", "POST", path, "application/x-www-form-urlencoded", "Outcome=confirmed&ProvideFeedback=true", true, "exactly Outcome=confirmed"},
		{"GET", "GET", path, "application/x-www-form-urlencoded", "Outcome=confirmed", true, "method GET"},
		{"no auth", "POST", path, "application/x-www-form-urlencoded", "Outcome=confirmed", false, "no HTTP Basic"},
		{"lower-case path", "POST", strings.ToLower(path), "application/x-www-form-urlencoded", "Outcome=confirmed", true, "is not"},
		{"malformed sid", "POST", strings.Replace(path, sid, "SM1", 1), "application/x-www-form-urlencoded", "Outcome=confirmed", true, "MessageSid"},
		{"another account", "POST", strings.Replace(path, account, "AC"+strings.Repeat("0", 32), 1), "application/x-www-form-urlencoded", "Outcome=confirmed", true, "configured"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := twiliotest.NewServer(t, twiliotest.Options{AccountSID: account, AuthToken: "token"})
			req, err := http.NewRequest(c.method, f.URL()+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.contentType)
			if c.auth {
				req.SetBasicAuth(account, "token")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			p := strings.Join(f.Problems(), "; ")
			if c.want == "" && p != "" || c.want != "" && !strings.Contains(p, c.want) {
				t.Errorf("problems %q, want %q", p, c.want)
			}
			if c.want == "" && resp.StatusCode != http.StatusOK {
				t.Errorf("status %d for a documented request", resp.StatusCode)
			}
		})
	}
}
