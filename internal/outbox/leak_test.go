package outbox_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// server, loop and connection a test starts must be stopped by its end.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
