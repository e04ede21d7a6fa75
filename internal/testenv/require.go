package testenv

import (
	"os"
	"strings"
	"testing"
)

// InCI reports whether the tests run under CI: the CI variable set to
// anything but "0" or "false" (.ci/run exports CI=1; CI services set
// CI=true).
func InCI() bool {
	v := strings.TrimSpace(os.Getenv("CI"))
	return v != "" && v != "0" && !strings.EqualFold(v, "false")
}

// Require stops the test when a prerequisite is missing (err non-nil):
// under CI the test fails naming what, because a CI run that skips proves
// nothing; elsewhere it skips with the same message, so a developer
// without, say, Chromium can still run the rest. It is the one way a test
// skips for a missing prerequisite; deliberate skips (-short) are not
// routed through it.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if InCI() {
		t.Fatalf("missing prerequisite %s: %v (CI is set, so a missing prerequisite fails instead of skipping; .ci/run installs it)", what, err)
		return
	}
	t.Skipf("missing prerequisite %s: %v (skipped; under CI=1 this fails)", what, err)
}
