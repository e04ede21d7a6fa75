package vendorbody_test

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"unicode/utf8"

	"relay/internal/vendors/vendorbody"
)

func TestClean(t *testing.T) {
	t.Parallel()
	split := strings.Repeat("a", 199) + "服务不可用" // the cut at 200 falls inside 服
	cases := []struct {
		name, in string
		max      int
		want     string
	}{
		{"plain", "Service Unavailable", 200, "Service Unavailable"},
		{"empty", "", 200, ""},
		{"NUL", "bad\x00gateway", 200, "bad gateway"},
		{"only NUL", "\x00\x00", 200, ""},
		{"invalid byte", "a\xffb", 200, "a\uFFFDb"},
		{"lone continuation byte", "\x80", 200, "\uFFFD"},
		{"surrogate half as UTF-8", "a\xed\xa0\x80b", 200, "a\uFFFD\uFFFD\uFFFDb"},
		{"newlines and tabs", "<html>\r\n\t<body>\n\n  503</body>", 200, "<html> <body> 503</body>"},
		{"C1 control and DEL", "a\u0085b\u009bc\x7fd", 200, "a b c d"},
		{"line separator", "a\u2028b\u2029c", 200, "a b c"},
		{"escape sequence", "\x1b[31mred", 200, "[31mred"},
		{"trimmed", "  x  ", 200, "x"},
		{"cut on a character boundary", split, 200, strings.Repeat("a", 199) + "…"},
		{"cut keeps whole characters", "服务不可用", 7, "服务…"},
		{"exactly max", strings.Repeat("b", 10), 10, strings.Repeat("b", 10)},
		{"no bound", strings.Repeat("c", 500), 0, strings.Repeat("c", 500)},
		{"chinese kept", "服务不可用", 200, "服务不可用"},
	}
	for _, c := range cases {
		got := vendorbody.Clean(c.in, c.max)
		if got != c.want {
			t.Errorf("%s: Clean(%q, %d) = %q, want %q", c.name, c.in, c.max, got, c.want)
		}
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Errorf("%s: Clean gave %q: not valid UTF-8 without NUL", c.name, got)
		}
		if c.max > 0 && len(got) > c.max+len("…") {
			t.Errorf("%s: Clean gave %d bytes, bound %d", c.name, len(got), c.max)
		}
	}
}

func TestRedactorRemovesSecretsBeforeTheCut(t *testing.T) {
	t.Parallel()
	const password = "hunter2-Secret-Pass"
	r := vendorbody.NewRedactor(password, "API4623444906", "")
	cases := []struct{ name, body string }{
		// The password starts at byte 190: a cut at 200 before redacting
		// would keep "hunter2-Se", which no longer matches the secret.
		{"straddles the cut", strings.Repeat("x", 190) + password + " rest"},
		{"at the start", `{"api_password":"` + password + `"}`},
		{"twice", password + password},
	}
	for _, c := range cases {
		got := r.Snippet([]byte(c.body))
		for _, frag := range []string{password, password[:10], "API4623444906"} {
			if strings.Contains(got, frag) {
				t.Errorf("%s: snippet %q holds %q", c.name, got, frag)
			}
		}
	}
	if got := r.Snippet([]byte("api_id API4623444906 refused")); got != "api_id [redacted] refused" {
		t.Errorf("snippet %q", got)
	}
}

func TestRedactorRemovesTheJSONEscapedForm(t *testing.T) {
	t.Parallel()
	const password = `p"w\d</script>`
	r := vendorbody.NewRedactor(password)
	echo := `{"api_password":"p\"w\\d\u003c/script\u003e"}` // as encoding/json writes it
	if got := r.Text(echo, 200); strings.Contains(got, `p\"w`) {
		t.Errorf("Text(%q) = %q: the escaped password survived", echo, got)
	}
	if got := r.Text(`said `+password, 200); got != "said [redacted]" {
		t.Errorf("Text = %q", got)
	}
}

func TestZeroRedactor(t *testing.T) {
	t.Parallel()
	var r vendorbody.Redactor
	if got := r.Text("a\x00b", 10); got != "a b" {
		t.Errorf("zero Redactor Text = %q, want %q", got, "a b")
	}
}

func TestRead(t *testing.T) {
	t.Parallel()
	b, err := vendorbody.Read(strings.NewReader("12345"), 5)
	if err != nil || string(b) != "12345" {
		t.Errorf("Read at the limit = %q, %v", b, err)
	}
	b, err = vendorbody.Read(strings.NewReader("123456"), 5)
	if !errors.Is(err, vendorbody.ErrTooLarge) || b != nil {
		t.Errorf("Read over the limit = %q, %v; want ErrTooLarge and no bytes", b, err)
	}
	boom := errors.New("reset")
	if _, err := vendorbody.Read(iotest.ErrReader(boom), 5); !errors.Is(err, boom) {
		t.Errorf("Read of a failing body = %v, want its error", err)
	}
}

func FuzzText(f *testing.F) {
	f.Add("hunter2", strings.Repeat("a", 199)+"服务", 200)
	f.Add("pw", "x\x00pw\xff", 5)
	f.Fuzz(func(t *testing.T, secret, body string, max int) {
		max = max%1000 + 1
		if max < 1 {
			max = -max + 1
		}
		got := vendorbody.NewRedactor(secret).Text(body, max)
		if !utf8.ValidString(got) || strings.ContainsRune(got, 0) {
			t.Fatalf("Text = %q: not valid UTF-8 without NUL", got)
		}
		if len(got) > max+len("…") {
			t.Fatalf("Text = %d bytes, bound %d", len(got), max)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("Text = %q holds control %U", got, r)
			}
		}
		// A secret that the marker itself or cleaning cannot form.
		plain := len(secret) >= 4 && utf8.ValidString(secret) && !strings.ContainsAny(secret, "[]…\uFFFD") &&
			vendorbody.Clean(secret, 0) == secret
		if plain && strings.Contains(got, secret) {
			t.Fatalf("Text(%q) = %q holds the secret %q", body, got, secret)
		}
	})
}
