package plivotest_test

import (
	"net/http"
	"strings"
	"testing"

	"relay/internal/vendors/plivo/plivotest"
)

const authID = "MAZDQ1ZJIYMDZKMMZKYM"

// TestProblems: each way off Plivo's documented request is noticed.
func TestProblems(t *testing.T) {
	t.Parallel()
	id := plivotest.MessageUUID(1)
	path := "/v1/account/" + authID + "/message/" + id + "/conversion/"
	const good = `{"status":"CONVERTED","timestamp":"2020-08-01T11:32:26Z"}`
	for _, c := range []struct {
		name, method, path, contentType, body string
		auth                                  bool
		want                                  string
	}{
		{"as documented", "POST", path, "application/json", good, true, ""},
		{"capitalised path", "POST", "/v1/Account/" + authID + "/Message/" + id + "/conversion/", "application/json", good, true, "is not"},
		{"no trailing slash", "POST", strings.TrimSuffix(path, "/"), "application/json", good, true, "is not"},
		{"form body", "POST", path, "application/x-www-form-urlencoded", "status=CONVERTED", true, "Content-Type"},
		{"other status", "POST", path, "application/json", `{"status":"converted","timestamp":"2020-08-01T11:32:26Z"}`, true, "want \"CONVERTED\""},
		{"zone offset", "POST", path, "application/json", `{"status":"CONVERTED","timestamp":"2020-08-01T13:32:26+02:00"}`, true, "RFC 3339 UTC"},
		{"fraction", "POST", path, "application/json", `{"status":"CONVERTED","timestamp":"2020-08-01T11:32:26.5Z"}`, true, "RFC 3339 UTC"},
		{"future", "POST", path, "application/json", `{"status":"CONVERTED","timestamp":"2999-08-01T11:32:26Z"}`, true, "future"},
		{"no timestamp", "POST", path, "application/json", `{"status":"CONVERTED"}`, true, "timestamp"},
		{"extra field", "POST", path, "application/json", `{"status":"CONVERTED","timestamp":"2020-08-01T11:32:26Z","x":1}`, true, "unexpected field"},
		{"no auth", "POST", path, "application/json", good, false, "no HTTP Basic"},
		{"another account", "POST", strings.Replace(path, authID, "MAOTHER", 1), "application/json", good, true, "configured"},
		{"PUT", "PUT", path, "application/json", good, true, "method PUT"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := plivotest.NewServer(t, plivotest.Options{AuthID: authID, AuthToken: "token"})
			req, err := http.NewRequest(c.method, f.URL()+c.path, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", c.contentType)
			if c.auth {
				req.SetBasicAuth(authID, "token")
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
