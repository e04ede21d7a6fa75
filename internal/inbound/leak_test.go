package inbound_test

import (
	"testing"

	"go.uber.org/goleak"

	"relay/internal/testenv"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// server, loop and connection a test starts must be stopped by its end
// (fasthttp's two unstoppable goroutines aside, see FasthttpLeaks).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.FasthttpLeaks()...) }
