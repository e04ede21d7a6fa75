package signedapi_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"relay/internal/vendors/signedapi"
)

// TestParseBalanceGolden parses the seeds' own response examples, copied
// verbatim: 000 (Laaffic) and 001 (Itniotech).
func TestParseBalanceGolden(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"laaffic_getBalance_response.json", "itniotech_getBalance_response.json"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		b, err := signedapi.ParseBalance(body)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// Exact decimals: value and the scale the vendor wrote.
		for field, got := range map[string]struct {
			d    decimal.Decimal
			want string
			exp  int32
		}{
			"balance": {b.Balance, "99.99", -6},
			"gift":    {b.Gift, "50", -5},
			"credit":  {b.Credit, "0", 0},
		} {
			if !got.d.Equal(decimal.RequireFromString(got.want)) || got.d.Exponent() != got.exp {
				t.Errorf("%s: %s = %s (exponent %d), want %s (exponent %d)", name, field, got.d, got.d.Exponent(), got.want, got.exp)
			}
		}
	}
}

func TestParseBalance(t *testing.T) {
	t.Parallel()
	ok := func(balance, gift, credit string) signedapi.Balance {
		return signedapi.Balance{
			Balance: decimal.RequireFromString(balance),
			Gift:    decimal.RequireFromString(gift),
			Credit:  decimal.RequireFromString(credit),
		}
	}
	for _, tc := range []struct {
		name string
		body string
		want signedapi.Balance
		err  error
	}{
		{"precision kept", `{"status":"0","balance":"12345678901234567890.123456789","gift":"0.1","credit":"-3.50"}`,
			ok("12345678901234567890.123456789", "0.1", "-3.5"), nil},
		{"bare numbers", `{"status":0,"balance":1.10,"gift":0,"credit":2}`, ok("1.1", "0", "2"), nil},
		{"no reason", `{"status":"0","balance":"1","gift":"2","credit":"3"}`, ok("1", "2", "3"), nil},
		{"failure wins over odd fields", `{"status":"-13","reason":"用户被锁定","balance":{}}`, signedapi.Balance{}, signedapi.ErrUserLocked},
		{"failure without amounts", `{"status":"-1","reason":"认证错误"}`, signedapi.Balance{}, signedapi.ErrAuth},
		{"odd reason keeps status", `{"status":"-2","reason":{"x":1}}`, signedapi.Balance{}, signedapi.ErrIPRestricted},
		{"missing credit", `{"status":"0","balance":"1","gift":"2"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"null balance", `{"status":"0","balance":null,"gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"empty gift", `{"status":"0","balance":"1","gift":"","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"exponent", `{"status":"0","balance":"1e3","gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"bare exponent", `{"status":"0","balance":1e3,"gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"NaN", `{"status":"0","balance":"NaN","gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"comma", `{"status":"0","balance":"1,000.00","gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"trailing dot", `{"status":"0","balance":"1.","gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"huge", `{"status":"0","balance":"` + strings.Repeat("9", 65) + `","gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"bool amount", `{"status":"0","balance":true,"gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"no status", `{"balance":"1","gift":"2","credit":"3"}`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
		{"not JSON", `<html>`, signedapi.Balance{}, signedapi.ErrMalformedResponse},
	} {
		got, err := signedapi.ParseBalance([]byte(tc.body))
		if !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.err)
			continue
		}
		if !got.Balance.Equal(tc.want.Balance) || !got.Gift.Equal(tc.want.Gift) || !got.Credit.Equal(tc.want.Credit) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestCheckStatus(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]error{
		`{"status":"0","reason":"success"}`:  nil,
		`{"status":" 0 "}`:                   nil,
		`{"status":"-18","reason":"端口程序异常"}`: signedapi.ErrPortProgram,
		`{"status":"-19"}`:                   signedapi.ErrChannelNotBound,
		`{"status":"x"}`:                     signedapi.ErrMalformedResponse,
		`{"status":""}`:                      signedapi.ErrMalformedResponse,
		`{"status":null}`:                    signedapi.ErrMalformedResponse,
		``:                                   signedapi.ErrMalformedResponse,
	} {
		if err := signedapi.CheckStatus([]byte(body)); !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("CheckStatus(%s) = %v, want %v", body, err, want)
		}
	}
}

// FuzzParseBalance checks that no answer makes the parser panic, and that
// an accepted answer is a success whose amounts print back to decimals.
func FuzzParseBalance(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := signedapi.ParseBalance(body)
		if err != nil {
			if signedapi.Classify(err) == signedapi.ClassNone {
				t.Fatalf("error %v classified as none", err)
			}
			if b != (signedapi.Balance{}) {
				t.Fatalf("error %v with a non-zero balance %+v", err, b)
			}
			return
		}
		if cerr := signedapi.CheckStatus(body); cerr != nil {
			t.Fatalf("balance parsed from a failure answer: %v", cerr)
		}
		for _, d := range []decimal.Decimal{b.Balance, b.Gift, b.Credit} {
			if _, err := decimal.NewFromString(d.String()); err != nil {
				t.Fatalf("amount %s does not round-trip: %v", d, err)
			}
		}
	})
}
