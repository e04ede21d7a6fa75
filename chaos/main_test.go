//go:build linux

package chaos

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"relay/internal/testenv"
)

var (
	fullFlag = flag.Bool("chaos.full", false, "run the full chaos suite: longer load, more kills, 10 s outages (also RELAY_CHAOS=full)")
	seedFlag = flag.Int64("chaos.seed", 0, "seed of the random kill instants and faults (0: from the clock; printed per scenario)")
	keepFlag = flag.Bool("chaos.keep", false, "keep the directory of process logs even when every scenario passed")
)

// debianNATSServer is where Debian's nats-server package (2.9.x on the dev
// machines and CI) puts the binary; /usr/sbin is not on a non-root user's
// PATH, so it is looked for there when PATH has none.
const debianNATSServer = "/usr/sbin/nats-server"

// suite is what TestMain prepares once for every scenario: the relay binary
// and the private PostgreSQL cluster (each scenario has its own database in
// it, and its own nats-server).
var suite struct {
	short    string // non-empty: -short, every scenario skips deliberately
	missing  string // a prerequisite not found: every scenario stops (testenv.Require)
	lack     error  // why missing is missing
	full     bool
	relayBin string
	natsBin  string
	runDir   string // process logs, kept when a scenario fails
	pg       *pgCluster

	mu        sync.Mutex
	summaries []string
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	suite.full = *fullFlag || strings.EqualFold(os.Getenv("RELAY_CHAOS"), "full")
	if testing.Short() {
		suite.short = "chaos suite skipped with -short (it runs relay, nats-server and PostgreSQL processes for ~90 s)"
		return m.Run()
	}
	// A missing prerequisite stops every scenario through testenv.Require:
	// a skip on a developer's machine, a failure under CI.
	pgBin, err := findPostgres()
	if err != nil {
		suite.missing, suite.lack = "PostgreSQL server binaries (initdb, pg_ctl, postgres; Debian package postgresql)", err
		return m.Run()
	}
	if suite.natsBin, err = findNATSServer(); err != nil {
		suite.missing, suite.lack = "nats-server (Debian package nats-server)", err
		return m.Run()
	}
	if os.Geteuid() == 0 {
		if _, err := postgresCredential(); err != nil {
			suite.missing, suite.lack = "the postgres user (the suite runs as root and initdb refuses root)", err
			return m.Run()
		}
	}

	suite.runDir, err = os.MkdirTemp("", "relay-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	start := time.Now()
	suite.relayBin = filepath.Join(suite.runDir, "relay")
	if err := buildRelay(suite.relayBin); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	built := time.Since(start)
	suite.pg, err = startCluster(pgBin, suite.runDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos: private PostgreSQL cluster:", err)
		return 1
	}
	mode := "short"
	if suite.full {
		mode = "full"
	}
	fmt.Printf("chaos: %s mode; relay built in %.1fs (race=%v); PostgreSQL %s on 127.0.0.1:%d ready in %.1fs; logs in %s\n",
		mode, built.Seconds(), raceEnabled, filepath.Base(filepath.Dir(pgBin)), suite.pg.port,
		(time.Since(start) - built).Seconds(), suite.runDir)

	code := m.Run()

	suite.pg.shutdown()
	suite.mu.Lock()
	if len(suite.summaries) > 0 {
		fmt.Printf("\nchaos summary (%s mode, %s total):\n", mode, time.Since(start).Round(100*time.Millisecond))
		for _, s := range suite.summaries {
			fmt.Println(s)
		}
	}
	suite.mu.Unlock()
	if code == 0 && !*keepFlag {
		_ = os.RemoveAll(suite.runDir)
	} else {
		fmt.Printf("chaos: process logs kept in %s\n", suite.runDir)
		if *keepFlag {
			fmt.Printf("chaos: PostgreSQL data kept in %s (postgres -D %s/data -k %s -p %d)\n",
				suite.pg.base, suite.pg.base, suite.pg.base, suite.pg.port)
		}
	}
	return code
}

// needSuite stops the test when TestMain did not prepare the suite: a
// deliberate skip with -short; for a missing prerequisite, a skip or,
// under CI, a failure naming it.
func needSuite(t *testing.T) {
	t.Helper()
	if suite.short != "" {
		t.Skip(suite.short)
	}
	testenv.Require(t, suite.missing, suite.lack)
}

// buildRelay builds ./cmd/relay into path, with -race when this test binary
// has it.
func buildRelay(path string) error {
	goTool, err := exec.LookPath("go") // go test puts GOROOT/bin first in PATH
	if err != nil {
		if root := os.Getenv("GOROOT"); root != "" {
			goTool = filepath.Join(root, "bin", "go")
		} else {
			return fmt.Errorf("no go tool to build relay with: %w", err)
		}
	}
	args := []string{"build", "-o", path}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "relay/cmd/relay")
	cmd := exec.Command(goTool, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// findPostgres returns the bin directory holding initdb, pg_ctl and
// postgres: the newest /usr/lib/postgresql/*/bin, else the one on PATH.
func findPostgres() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if hasPGTools(dirs[i]) {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && hasPGTools(filepath.Dir(p)) {
		return filepath.Dir(p), nil
	}
	return "", errors.New("no directory holding initdb, pg_ctl and postgres in /usr/lib/postgresql/*/bin or on PATH")
}

// findNATSServer returns the nats-server on PATH, else Debian's.
func findNATSServer() (string, error) {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p, nil
	}
	if _, err := os.Stat(debianNATSServer); err != nil {
		return "", fmt.Errorf("not on PATH, and %w", err)
	}
	return debianNATSServer, nil
}

func hasPGTools(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

func addSummary(s string) {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	suite.summaries = append(suite.summaries, s)
}
