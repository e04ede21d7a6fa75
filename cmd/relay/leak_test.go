package main

import (
	"testing"

	"go.uber.org/goleak"

	"relay/internal/testenv"
)

// TestMain fails the package's tests when a goroutine outlives them: every
// Main a test runs must stop all it started (fasthttp's two unstoppable
// goroutines aside, see FasthttpLeaks).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testenv.FasthttpLeaks()...) }
