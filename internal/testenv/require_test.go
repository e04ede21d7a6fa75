package testenv

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that records Fatalf and Skipf instead of
// stopping the goroutine, so Require's choice can be checked.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

// TestRequire: a missing prerequisite fails under CI (any CI value but
// empty, 0 or false) and skips elsewhere, naming what is missing either
// way; a present one does neither.
func TestRequire(t *testing.T) {
	missing := errors.New("stat /usr/bin/chromium: no such file or directory")
	for _, c := range []struct {
		ci       string
		wantFail bool
	}{
		{"", false}, {"0", false}, {"false", false}, {"FALSE", false},
		{"1", true}, {"true", true}, {"yes", true},
	} {
		t.Setenv("CI", c.ci)
		if InCI() != c.wantFail {
			t.Errorf("CI=%q: InCI() = %v, want %v", c.ci, InCI(), c.wantFail)
		}
		r := &recorder{}
		Require(r, "Chromium", missing)
		got := r.skip
		if c.wantFail {
			got = r.fatal
		}
		if got == "" || (r.fatal != "") == (r.skip != "") {
			t.Errorf("CI=%q: fatal %q, skip %q; want only the %s", c.ci, r.fatal, r.skip, map[bool]string{true: "failure", false: "skip"}[c.wantFail])
			continue
		}
		if !strings.Contains(got, "Chromium") || !strings.Contains(got, missing.Error()) {
			t.Errorf("CI=%q: message %q does not name the prerequisite and why", c.ci, got)
		}
		r = &recorder{}
		Require(r, "Chromium", nil)
		if r.fatal != "" || r.skip != "" {
			t.Errorf("CI=%q: present prerequisite stopped the test: %q %q", c.ci, r.fatal, r.skip)
		}
	}
}
