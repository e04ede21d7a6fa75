package jpush

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

// render is the golden form of a parse: one "kind value" line per reading,
// or the error and its classification.
func render(q [4]Quota, err error) string {
	if err != nil {
		return fmt.Sprintf("error: %v\nretryable: %t\n", err, Retryable(err))
	}
	var b strings.Builder
	for _, r := range readings(q[:]...) {
		fmt.Fprintf(&b, "%s %s\n", r.Kind, r.Quota)
	}
	return b.String()
}

// TestGolden parses the seed's own sample answers, copied verbatim into
// testdata/, including its error template whose "*****" placeholders are
// not JSON.
func TestGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file   string
		status int
		fields [4]string
		golden string
	}{
		{"dev_balance.json", 200, devFields, "dev_balance.golden"},
		{"app_balance.json", 200, appFields, "app_balance.golden"},
		// Each sample read by the other endpoint has none of its fields.
		{"dev_balance.json", 200, appFields, "dev_balance_as_app.golden"},
		{"error_template.json", 400, devFields, "error_template_400.golden"},
		{"error_template.json", 200, devFields, "error_template_200.golden"},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			t.Parallel()
			body, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			got := render(parseBalance(c.status, body, c.fields))
			path := filepath.Join("testdata", c.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("parse %s (HTTP %d):\ngot:\n%s\nwant:\n%s", c.file, c.status, got, want)
			}
		})
	}
}

func TestParseBalance(t *testing.T) {
	t.Parallel()
	na := Quota{}
	cases := []struct {
		name    string
		status  int
		body    string
		want    [4]Quota
		wantErr string // substring; "" means success
	}{
		{"all null", 200, `{"dev_balance":null,"dev_voice":null,"dev_industry":null,"dev_market":null}`, [4]Quota{na, na, na, na}, ""},
		{"null and zero differ", 200, `{"dev_balance":null,"dev_voice":0,"dev_industry":null,"dev_market":0}`, [4]Quota{na, QuotaOf(0), na, QuotaOf(0)}, ""},
		{"absent reads as null", 200, `{"dev_voice":5}`, [4]Quota{na, QuotaOf(5), na, na}, ""},
		{"quoted and .0 numbers", 200, `{"dev_balance":"9","dev_voice":7.0,"dev_industry":"-3","dev_market":1}`, [4]Quota{QuotaOf(9), QuotaOf(7), QuotaOf(-3), QuotaOf(1)}, ""},
		{"unknown members ignored", 200, `{"dev_balance":1,"dev_voice":2,"dev_industry":3,"dev_market":4,"extra":{}}`, [4]Quota{QuotaOf(1), QuotaOf(2), QuotaOf(3), QuotaOf(4)}, ""},
		{"int64 max", 200, `{"dev_balance":9223372036854775807}`, [4]Quota{QuotaOf(1<<63 - 1), na, na, na}, ""},
		{"overflow", 200, `{"dev_balance":9223372036854775808}`, [4]Quota{}, "dev_balance"},
		{"fraction", 200, `{"dev_balance":1.5}`, [4]Quota{}, "dev_balance: quota is not an integer"},
		{"exponent", 200, `{"dev_balance":1e3}`, [4]Quota{}, "not an integer"},
		{"bool", 200, `{"dev_balance":true}`, [4]Quota{}, "not an integer"},
		{"empty string", 200, `{"dev_balance":""}`, [4]Quota{}, "not an integer"},
		{"empty object", 200, `{}`, [4]Quota{}, "none of dev_balance"},
		{"other endpoint's fields", 200, `{"app_balance":1}`, [4]Quota{}, "none of dev_balance"},
		{"case matters", 200, `{"DEV_BALANCE":1}`, [4]Quota{}, "none of"},
		{"array", 200, `[1,2]`, [4]Quota{}, "not a JSON object"},
		{"null body", 200, `null`, [4]Quota{}, "not a JSON object"},
		{"empty body", 200, ``, [4]Quota{}, "unparseable response"},
		{"html", 200, `<html>502</html>`, [4]Quota{}, "invalid JSON at offset 1"},
		{"truncated", 200, `{"dev_balance": 9, "dev_vo`, [4]Quota{}, "unparseable response"},
		{"error object under 200", 200, `{"error":{"code":50001,"message":"auth failed"}}`, [4]Quota{}, `HTTP 200 OK: code 50001: "auth failed"`},
		{"error null is no error", 200, `{"error":null,"dev_balance":1}`, [4]Quota{QuotaOf(1), na, na, na}, ""},
		{"error code as string", 401, `{"error":{"code":"50001","message":"m"}}`, [4]Quota{}, `HTTP 401 Unauthorized: code 50001: "m"`},
		{"error as text", 500, `{"error":"boom"}`, [4]Quota{}, `HTTP 500 Internal Server Error: "boom"`},
		{"error without code", 403, `{"error":{"message":"no"}}`, [4]Quota{}, `HTTP 403 Forbidden: "no"`},
		{"5xx garbage", 502, `<html>bad gateway</html>`, [4]Quota{}, "HTTP 502 Bad Gateway"},
		{"non-2xx balance body is still an error", 500, `{"dev_balance":1}`, [4]Quota{}, "HTTP 500"},
		{"unknown status", 599, ``, [4]Quota{}, "HTTP 599"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBalance(c.status, []byte(c.body), devFields)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				if got != c.want {
					t.Fatalf("got %v, want %v", got, c.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, c.wantErr)
			}
			if got != ([4]Quota{}) {
				t.Errorf("quotas = %v on error, want zero", got)
			}
		})
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	if (Quota{}).Allocated || (Quota{}).String() != "not allocated" {
		t.Errorf("zero Quota = %+v %q, want not allocated", Quota{}, Quota{})
	}
	if s := QuotaOf(0).String(); s != "0" {
		t.Errorf("QuotaOf(0) = %q, want 0", s)
	}
	if s := QuotaOf(-12).String(); s != "-12" {
		t.Errorf("QuotaOf(-12) = %q", s)
	}
	b, err := json.Marshal(DevBalance{Balance: QuotaOf(9), Voice: QuotaOf(0)})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"dev_balance":9,"dev_voice":0,"dev_industry":null,"dev_market":null}`; string(b) != want {
		t.Errorf("marshal = %s, want %s", b, want)
	}
	var back DevBalance
	if err := json.Unmarshal(b, &back); err != nil || back != (DevBalance{Balance: QuotaOf(9), Voice: QuotaOf(0)}) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	var q Quota
	if err := q.UnmarshalJSON([]byte(`"secret-ish"`)); err == nil || strings.Contains(err.Error(), "secret-ish") {
		t.Errorf("UnmarshalJSON(string) error %v must exist and not quote the input", err)
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	c := New(Config{})
	if c.cfg.Timeout != DefaultTimeout || c.baseErr != nil || c.base.String() != DefaultBaseURL {
		t.Errorf("defaults: timeout %v, base %v, err %v", c.cfg.Timeout, c.base, c.baseErr)
	}
	if c.http.CheckRedirect == nil {
		t.Error("default client follows redirects")
	}
	c = New(Config{BaseURL: "http://127.0.0.1:1/", Timeout: time.Second})
	if c.base.String() != "http://127.0.0.1:1" || c.cfg.Timeout != time.Second {
		t.Errorf("base %v timeout %v", c.base, c.cfg.Timeout)
	}
}

// FuzzParseBalance checks that no answer makes the parser panic, that it
// fails only with the documented error kinds, and that a success survives
// a round trip through the vendor's JSON form.
//
// Its seed corpus, testdata/fuzz/FuzzParseBalance, holds the seed's samples
// verbatim and one file per kind of answer the client must survive.
func FuzzParseBalance(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, fields := range [][4]string{devFields, appFields} {
			q, err := parseBalance(status, body, fields)
			if err != nil {
				var apiErr *APIError
				switch {
				case errors.As(err, &apiErr):
					if apiErr.HTTPStatus != status {
						t.Fatalf("APIError.HTTPStatus = %d, want %d", apiErr.HTTPStatus, status)
					}
				case errors.Is(err, ErrBadResponse):
					if !Retryable(err) {
						t.Fatalf("bad response %v not retryable", err)
					}
				default:
					t.Fatalf("undocumented error kind %T: %v", err, err)
				}
				if q != ([4]Quota{}) {
					t.Fatalf("quotas %v returned with error", q)
				}
				continue
			}
			if status < 200 || status > 299 {
				t.Fatalf("HTTP %d parsed as a balance", status)
			}
			for _, v := range q {
				if !v.Allocated && v.Value != 0 {
					t.Fatalf("not allocated quota with value %d", v.Value)
				}
			}
			var again [4]Quota
			b, err := json.Marshal(AppBalance{q[0], q[1], q[2], q[3]})
			if err == nil {
				again, err = parseBalance(200, b, appFields)
			}
			if err != nil || again != q {
				t.Fatalf("round trip of %v via %s: %v, %v", q, b, again, err)
			}
		}
	})
}
