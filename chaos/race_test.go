//go:build linux && race

package chaos

// raceEnabled: the test binary was built with -race, so relay is built with it
// too (its packages are then in the build cache already, and a data race in
// relay under chaos is reported in its log).
const raceEnabled = true
