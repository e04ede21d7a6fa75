package signedapitest

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"relay/internal/vendors/signedapi"
	"relay/internal/vendors/vendorbody"
)

// Op is one call of a vendor client, run by the contract suite.
type Op struct {
	// Name labels the subtests, e.g. "GetBalance".
	Name string
	// Path is the documented path the call must request.
	Path string
	// Call builds the vendor's client from cfg (BaseURL points at the fake)
	// and makes the call once.
	Call func(ctx context.Context, cfg signedapi.Config) error
}

// Target is a vendor client under the contract suite.
type Target struct {
	// Vendor is the fake's path set for this vendor.
	Vendor Vendor
	// Ops are the client's calls; every check runs against each.
	Ops []Op
}

// Credentials the suite uses; distinctive so that a leak into an error
// string is found by a plain substring search.
const (
	contractKey    = "ctKey-7Qx4"
	contractSecret = "ctSecret-9f2c1e"
)

// seedTimestamp is the Timestamp header of the seeds' request samples.
const seedTimestamp = 1630468800

// codeCase is one documented status and what the client must make of it.
type codeCase struct {
	code     int
	sentinel error
	class    signedapi.Class
}

// documentedCodes lists every non-zero status of seeds 000, 001 and 002,
// with the class written out independently of signedapi's own table.
var documentedCodes = []codeCase{
	{-1, signedapi.ErrAuth, signedapi.ClassAccount},
	{-2, signedapi.ErrIPRestricted, signedapi.ClassAccount},
	{-11, signedapi.ErrTimeFormat, signedapi.ClassPermanent},
	{-13, signedapi.ErrUserLocked, signedapi.ClassAccount},
	{-14, signedapi.ErrFieldEmpty, signedapi.ClassPermanent},
	{-16, signedapi.ErrTimestampExpired, signedapi.ClassRetryable},
	{-18, signedapi.ErrPortProgram, signedapi.ClassRetryable},
	{-19, signedapi.ErrChannelNotBound, signedapi.ClassAccount},
}

// RunContract checks a vendor client against the family's contract:
// signing and headers as documented, every status code mapped to its
// typed error and class, the single -16 retry and the skew report, HTTP
// and body failures, timeouts, and no credential in any error string.
func RunContract(t *testing.T, target Target) {
	t.Helper()
	for _, op := range target.Ops {
		t.Run(op.Name, func(t *testing.T) {
			t.Parallel()
			runOp(t, target.Vendor, op)
		})
	}
}

// contractSetup is one fake and a Config aimed at it.
type contractSetup struct {
	srv *Server
	cfg signedapi.Config
}

func setup(t *testing.T, v Vendor, opts Options) contractSetup {
	t.Helper()
	opts.Vendor = v
	if opts.APIKey == "" {
		opts.APIKey, opts.APISecret = contractKey, contractSecret
	}
	srv := NewServer(t, opts)
	return contractSetup{srv: srv, cfg: signedapi.Config{
		BaseURL:   srv.URL,
		APIKey:    contractKey,
		APISecret: contractSecret,
		Now:       SteppingClock(time.Unix(seedTimestamp, 0), time.Second),
	}}
}

// checkNoSecrets fails if err's text holds the secret, the key or any
// Sign the fake received.
func checkNoSecrets(t *testing.T, err error, srv *Server) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	leaks := []string{contractSecret, contractKey}
	for _, r := range srv.Requests() {
		if s := r.Header.Get("Sign"); s != "" {
			leaks = append(leaks, s)
		}
	}
	for _, l := range leaks {
		if strings.Contains(msg, l) {
			t.Errorf("error %q contains a credential", msg)
		}
	}
}

// checkSafeText fails if s could not be stored or logged as it is.
func checkSafeText(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%s: %q is not valid UTF-8", what, s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			t.Errorf("%s: %q holds control character %U", what, s, r)
			break
		}
	}
}

func wantClass(t *testing.T, err error, want signedapi.Class) {
	t.Helper()
	if got := signedapi.Classify(err); got != want {
		t.Errorf("Classify(%v) = %v, want %v", err, got, want)
	}
	if signedapi.Retryable(err) != (want == signedapi.ClassRetryable) {
		t.Errorf("Retryable(%v) = %v", err, signedapi.Retryable(err))
	}
	if signedapi.Permanent(err) != (want == signedapi.ClassPermanent || want == signedapi.ClassAccount) {
		t.Errorf("Permanent(%v) = %v", err, signedapi.Permanent(err))
	}
}

func wantRequests(t *testing.T, srv *Server, n int) []Request {
	t.Helper()
	reqs := srv.Requests()
	if len(reqs) != n {
		t.Fatalf("fake received %d requests, want %d", len(reqs), n)
	}
	return reqs
}

func runOp(t *testing.T, v Vendor, op Op) {
	ctx := context.Background()

	t.Run("SignsAsDocumented", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		s.cfg.Now = func() time.Time { return time.Unix(seedTimestamp, 0) }
		if err := op.Call(ctx, s.cfg); err != nil {
			t.Fatalf("call: %v", err)
		}
		r := wantRequests(t, s.srv, 1)[0]
		if r.Method != http.MethodGet || r.Path != op.Path {
			t.Errorf("request %s %s, want GET %s", r.Method, r.Path, op.Path)
		}
		sum := md5.Sum([]byte(contractKey + contractSecret + "1630468800"))
		want := map[string]string{
			"Content-Type": "application/json;charset=UTF-8",
			"Timestamp":    "1630468800",
			"Api-Key":      contractKey,
			"Sign":         hex.EncodeToString(sum[:]),
		}
		for name, w := range want {
			if got := r.Header.Values(name); len(got) != 1 || got[0] != w {
				t.Errorf("header %s = %q, want [%q]", name, got, w)
			}
		}
		// Go's transport adds these two; anything else is not on the page.
		for name := range r.Header {
			if _, ok := want[name]; !ok && name != "User-Agent" && name != "Accept-Encoding" {
				t.Errorf("undocumented header %s sent", name)
			}
		}
		if !r.SignOK || len(r.Violations) > 0 {
			t.Errorf("fake refused the request: SignOK=%v violations=%q", r.SignOK, r.Violations)
		}
	})

	t.Run("DocumentedCodes", func(t *testing.T) {
		t.Parallel()
		for _, tc := range documentedCodes {
			t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
				t.Parallel()
				s := setup(t, v, Options{})
				// Twice: -16 is retried once by the client.
				s.srv.Enqueue(Fault{Status: tc.code}, Fault{Status: tc.code})
				err := op.Call(ctx, s.cfg)
				if !errors.Is(err, tc.sentinel) {
					t.Fatalf("error %v, want errors.Is %v", err, tc.sentinel)
				}
				var se *signedapi.StatusError
				if !errors.As(err, &se) || se.Code != tc.code {
					t.Errorf("errors.As StatusError: %+v, want code %d", se, tc.code)
				}
				wantClass(t, err, tc.class)
				calls := 1
				if tc.code == signedapi.CodeTimestampExpired {
					calls = 2
				}
				wantRequests(t, s.srv, calls)
				checkNoSecrets(t, err, s.srv)
			})
		}
	})

	t.Run("UndocumentedCodeRetryable", func(t *testing.T) {
		t.Parallel()
		for _, code := range []int{-99, -3, 7} {
			s := setup(t, v, Options{})
			s.srv.Enqueue(Fault{Status: code, Reason: "something new"})
			err := op.Call(ctx, s.cfg)
			var se *signedapi.StatusError
			if !errors.As(err, &se) || se.Code != code || se.Reason != "something new" {
				t.Fatalf("status %d: error %v, want StatusError with code and reason", code, err)
			}
			wantClass(t, err, signedapi.ClassRetryable)
			wantRequests(t, s.srv, 1)
		}
	})

	t.Run("TimestampExpiredRetriedOnceWithFreshTimestamp", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		s.srv.Enqueue(Fault{Status: signedapi.CodeTimestampExpired})
		if err := op.Call(ctx, s.cfg); err != nil {
			t.Fatalf("call after one -16: %v", err)
		}
		reqs := wantRequests(t, s.srv, 2)
		if reqs[1].Timestamp <= reqs[0].Timestamp || !reqs[1].SignOK {
			t.Errorf("retry timestamp %d after %d (SignOK=%v): want a fresh, signed one",
				reqs[1].Timestamp, reqs[0].Timestamp, reqs[1].SignOK)
		}
	})

	t.Run("ClockSkewReported", func(t *testing.T) {
		t.Parallel()
		vendorNow := time.Unix(seedTimestamp, 0)
		s := setup(t, v, Options{Now: func() time.Time { return vendorNow }, MaxSkew: 30 * time.Second})
		s.cfg.Now = SteppingClock(vendorNow.Add(5*time.Minute), time.Second)
		err := op.Call(ctx, s.cfg)
		var skew *signedapi.SkewError
		if !errors.As(err, &skew) || !errors.Is(err, signedapi.ErrTimestampExpired) {
			t.Fatalf("error %v, want a SkewError wrapping ErrTimestampExpired", err)
		}
		if skew.Skew < 5*time.Minute || skew.Skew > 5*time.Minute+10*time.Second {
			t.Errorf("skew %s, want about 5m", skew.Skew)
		}
		if !strings.Contains(err.Error(), "ahead") {
			t.Errorf("error %q does not say which clock is ahead", err)
		}
		wantClass(t, err, signedapi.ClassRetryable)
		wantRequests(t, s.srv, 2)
		checkNoSecrets(t, err, s.srv)
	})

	t.Run("WrongCredentials", func(t *testing.T) {
		t.Parallel()
		for name, opts := range map[string]Options{
			"secret": {APIKey: contractKey, APISecret: "the-real-secret"},
			"key":    {APIKey: "another-key", APISecret: contractSecret},
		} {
			s := setup(t, v, opts)
			err := op.Call(ctx, s.cfg)
			if !errors.Is(err, signedapi.ErrAuth) {
				t.Fatalf("wrong %s: error %v, want ErrAuth", name, err)
			}
			wantClass(t, err, signedapi.ClassAccount)
			checkNoSecrets(t, err, s.srv)
		}
	})

	t.Run("HTTPErrors", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			status int
			class  signedapi.Class
		}{
			{500, signedapi.ClassRetryable}, {502, signedapi.ClassRetryable},
			{503, signedapi.ClassRetryable}, {504, signedapi.ClassRetryable},
			{429, signedapi.ClassRetryable}, {408, signedapi.ClassRetryable},
			{400, signedapi.ClassPermanent}, {403, signedapi.ClassPermanent},
			{404, signedapi.ClassPermanent}, {302, signedapi.ClassPermanent},
		} {
			s := setup(t, v, Options{})
			s.srv.Enqueue(Fault{HTTPStatus: tc.status, Body: "<html>upstream</html>"})
			err := op.Call(ctx, s.cfg)
			var he *signedapi.HTTPError
			if !errors.As(err, &he) || he.StatusCode != tc.status {
				t.Fatalf("HTTP %d: error %v, want HTTPError", tc.status, err)
			}
			wantClass(t, err, tc.class)
			wantRequests(t, s.srv, 1)
			checkNoSecrets(t, err, s.srv)
		}
	})

	t.Run("FailureEnvelopeWithHTTPError", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		s.srv.Enqueue(Fault{HTTPStatus: 401, Body: `{"status":"-1","reason":"Authentication error"}`})
		err := op.Call(ctx, s.cfg)
		if !errors.Is(err, signedapi.ErrAuth) {
			t.Fatalf("error %v, want the envelope's ErrAuth", err)
		}
	})

	t.Run("MalformedAnswers", func(t *testing.T) {
		t.Parallel()
		for _, body := range []string{
			"{not json", "<html>gateway</html>", "[]", `"0"`, "null",
			`{"reason":"success"}`, `{"status":"zero"}`, `{"status":true}`,
		} {
			s := setup(t, v, Options{})
			s.srv.Enqueue(Fault{Body: body})
			err := op.Call(ctx, s.cfg)
			if !errors.Is(err, signedapi.ErrMalformedResponse) {
				t.Fatalf("body %q: error %v, want ErrMalformedResponse", body, err)
			}
			wantClass(t, err, signedapi.ClassRetryable)
			checkNoSecrets(t, err, s.srv)
		}
	})

	t.Run("HostileAnswers", func(t *testing.T) {
		t.Parallel()
		balance := `{"status":"0","reason":"success","balance":"1","gift":"0","credit":"0"}`
		for name, tc := range map[string]struct {
			fault   Fault
			timeout time.Duration
			check   func(error) bool
		}{
			"huge 200": {fault: Fault{Body: balance, Pad: 20 << 20}, check: func(err error) bool {
				return errors.Is(err, signedapi.ErrMalformedResponse) && errors.Is(err, vendorbody.ErrTooLarge)
			}},
			"drip": {fault: Fault{Body: balance, Drip: 100 * time.Millisecond}, timeout: 500 * time.Millisecond, check: func(err error) bool {
				return err != nil
			}},
			"reason with NUL, invalid UTF-8 and the secret across the cut": {
				fault: Fault{Body: `{"status":"-18","reason":"` + strings.Repeat("r", 190) + contractSecret + contractKey + `\u0000\n` + "\xff" + `"}`},
				check: func(err error) bool { return errors.Is(err, signedapi.ErrPortProgram) },
			},
			"html 200": {fault: Fault{Body: "<html>\x00<p>服务不可用</p></html>"}, check: func(err error) bool {
				return errors.Is(err, signedapi.ErrMalformedResponse)
			}},
		} {
			s := setup(t, v, Options{})
			s.srv.Enqueue(tc.fault)
			if tc.timeout > 0 {
				s.cfg.Timeout = tc.timeout
			}
			err := op.Call(ctx, s.cfg)
			if !tc.check(err) {
				t.Fatalf("%s: error %v, not the one expected", name, err)
			}
			wantClass(t, err, signedapi.ClassRetryable)
			checkNoSecrets(t, err, s.srv)
			checkSafeText(t, name, err.Error())
			var se *signedapi.StatusError
			if errors.As(err, &se) {
				checkSafeText(t, name+" reason", se.Reason)
				for _, piece := range []string{contractSecret[:len(contractSecret)/2], contractSecret[len(contractSecret)/2:], contractKey[:5]} {
					if strings.Contains(se.Reason, piece) {
						t.Errorf("%s: reason %q holds a piece of a credential", name, se.Reason)
					}
				}
			}
		}
	})

	t.Run("RedirectNotFollowed", func(t *testing.T) {
		t.Parallel()
		var elsewhere atomic.Int32
		target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
		t.Cleanup(target.Close)
		s := setup(t, v, Options{})
		s.srv.Enqueue(Fault{HTTPStatus: http.StatusFound, Location: target.URL + op.Path})
		s.cfg.HTTPClient = &http.Client{}
		err := op.Call(ctx, s.cfg)
		var he *signedapi.HTTPError
		if !errors.As(err, &he) || he.StatusCode != http.StatusFound {
			t.Fatalf("error %v, want HTTPError 302", err)
		}
		if n := elsewhere.Load(); n != 0 {
			t.Errorf("the redirect's target got %d requests, the signed headers with them", n)
		}
	})

	t.Run("ConnectionDropped", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		s.srv.Enqueue(Fault{Reset: true})
		err := op.Call(ctx, s.cfg)
		if err == nil {
			t.Fatal("no error for a dropped connection")
		}
		wantClass(t, err, signedapi.ClassRetryable)
		checkNoSecrets(t, err, s.srv)
	})

	t.Run("ConfigTimeout", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		s.srv.SetFault(&Fault{Delay: time.Hour})
		s.cfg.Timeout = 50 * time.Millisecond
		start := time.Now()
		err := op.Call(ctx, s.cfg)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("call took %s with a 50ms timeout", d)
		}
		wantClass(t, err, signedapi.ClassRetryable)
		checkNoSecrets(t, err, s.srv)
	})

	t.Run("CallerDeadline", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		s.srv.SetFault(&Fault{Delay: time.Hour})
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		err := op.Call(cctx, s.cfg)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("error %v, want context.DeadlineExceeded", err)
		}
		wantClass(t, err, signedapi.ClassRetryable)
	})

	t.Run("InvalidConfig", func(t *testing.T) {
		t.Parallel()
		s := setup(t, v, Options{})
		for name, mutate := range map[string]func(*signedapi.Config){
			"path in BaseURL": func(c *signedapi.Config) { c.BaseURL += "/v3" },
			"no secret":       func(c *signedapi.Config) { c.APISecret = "" },
			"no key":          func(c *signedapi.Config) { c.APIKey = "" },
			"bad scheme":      func(c *signedapi.Config) { c.BaseURL = "ftp://example.com" },
		} {
			cfg := s.cfg
			mutate(&cfg)
			err := op.Call(ctx, cfg)
			if !errors.Is(err, signedapi.ErrConfig) {
				t.Errorf("%s: error %v, want ErrConfig", name, err)
			}
			wantClass(t, err, signedapi.ClassPermanent)
			checkNoSecrets(t, err, s.srv)
		}
		wantRequests(t, s.srv, 0)
	})
}
