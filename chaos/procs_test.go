//go:build linux

package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// proc is one child process whose stdout and stderr go to a log file.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{}
	waitErr error
	// stopped is set before the suite signals the process: its exit is
	// then expected, any other exit is a finding.
	stopped atomic.Bool
}

// startProc starts path with args. The child gets SIGKILL if the test
// binary dies (a test timeout, a panic), so no process outlives the suite.
func startProc(name, path string, args, env []string, logPath, dir string, cred *syscall.Credential) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = f, f // an *os.File: the child writes it directly
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Credential: cred}
	p := &proc{name: name, logPath: logPath, cmd: cmd, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// signal sends sig, marking the exit that follows as expected.
func (p *proc) signal(sig syscall.Signal) {
	p.stopped.Store(true)
	_ = p.cmd.Process.Signal(sig)
}

// wait reports whether the process exited within d.
func (p *proc) wait(d time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// unexpectedExit describes an exit the suite did not cause.
func (p *proc) unexpectedExit() error {
	if p.exited() && !p.stopped.Load() {
		return fmt.Errorf("%s (pid %d) exited by itself: %v; log %s:\n%s", p.name, p.pid(), p.waitErr, p.logPath, tail(p.logPath, 25))
	}
	return nil
}

// kill9 kills the process at once and waits for it.
func (p *proc) kill9() {
	p.signal(syscall.SIGKILL)
	<-p.done
}

// tail returns the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// freePort returns a TCP port free on 127.0.0.1 at the time of asking.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// baseEnv is the suite's environment for children, without any RELAY_*
// variable of the caller's.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RELAY_") {
			env = append(env, kv)
		}
	}
	return env
}

// --- PostgreSQL ---

// pgCluster is a private PostgreSQL cluster: initdb in a temp dir, the
// postmaster run directly as a child (not through pg_ctl, which detaches it)
// so the suite can stop it fast, stop it "immediately" (a crash as far as
// clients can tell) and be sure it dies with the test binary. fsync stays on
// (the default): the suite checks durability, and turning it off would only
// matter for a machine crash, which it does not simulate, but keeping the
// production setting costs little. initdb runs with --no-sync: that only
// skips flushing the fresh cluster's files, once.
type pgCluster struct {
	bin  string
	base string // owned by the server's user: data/ and the socket
	port int
	cred *syscall.Credential
	log  string
	p    *proc
}

func postgresCredential() (*syscall.Credential, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, err
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func startCluster(bin, logDir string) (*pgCluster, error) {
	c := &pgCluster{bin: bin, log: filepath.Join(logDir, "postgres.log")}
	var err error
	// Not under logDir: a test's temp dirs are 0700 root, and the server
	// runs as postgres when the suite runs as root (initdb refuses root).
	c.base, err = os.MkdirTemp("", "relay-chaos-pg-")
	if err != nil {
		return nil, err
	}
	if os.Geteuid() == 0 {
		if c.cred, err = postgresCredential(); err != nil {
			return nil, err
		}
		if err := os.Chown(c.base, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return nil, err
		}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(c.base, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.Dir = c.base
	initdb.Env = append(baseEnv(), "LC_ALL=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(c.base)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	if err := c.start(); err != nil {
		c.shutdown()
		return nil, err
	}
	return c, nil
}

// start runs the postmaster and waits until it accepts connections (after
// crash recovery when it was stopped immediately).
func (c *pgCluster) start() error {
	args := []string{"-D", filepath.Join(c.base, "data"), "-k", c.base, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"}
	p, err := startProc("postgres", filepath.Join(c.bin, "postgres"), args, append(baseEnv(), "LC_ALL=C"), c.log, c.base, c.cred)
	if err != nil {
		return err
	}
	c.p = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.url("postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		if p.exited() {
			return fmt.Errorf("postgres exited: %v\n%s", p.waitErr, tail(c.log, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not accepting connections after 60s: %v\n%s", err, tail(c.log, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop stops the postmaster: SIGINT is PostgreSQL's fast shutdown (clients
// cut, checkpoint), SIGQUIT its immediate shutdown (no checkpoint: crash
// recovery at the next start).
func (c *pgCluster) stop(sig syscall.Signal) error {
	if c.p == nil || c.p.exited() {
		return nil
	}
	c.p.signal(sig)
	if !c.p.wait(60 * time.Second) {
		c.p.kill9()
		return fmt.Errorf("postgres ignored %v for 60s; killed", sig)
	}
	return nil
}

func (c *pgCluster) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

func (c *pgCluster) shutdown() {
	_ = c.stop(syscall.SIGINT)
	if !*keepFlag {
		_ = os.RemoveAll(c.base)
	}
}

// --- NATS ---

// natsServer is a nats-server process with JetStream; it restarts on the
// same port with the same store. A member of a cluster also has a server
// name, a route port and the routes to every member.
type natsServer struct {
	port  int
	store string
	log   string
	p     *proc

	name        string // cluster members only
	clusterPort int
	routes      string
}

func newNATS(dir string) (*natsServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &natsServer{port: port, store: filepath.Join(dir, "nats-store"), log: filepath.Join(dir, "nats.log")}
	return n, n.start()
}

// newNATSCluster starts n nats-server processes that form the JetStream
// cluster "relay-chaos" (names n0, n1, ...; own client and route ports,
// own store dirs) and waits until each answers JetStream requests, which
// needs a meta leader, so all are launched before any is waited for.
func newNATSCluster(dir string, n int) ([]*natsServer, error) {
	var nodes []*natsServer
	var routes []string
	for i := range n {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		cport, err := freePort()
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("n%d", i)
		nodes = append(nodes, &natsServer{port: port, name: name, clusterPort: cport,
			store: filepath.Join(dir, "nats-store-"+name), log: filepath.Join(dir, "nats-"+name+".log")})
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", cport))
	}
	for _, nd := range nodes {
		nd.routes = strings.Join(routes, ",")
		if err := nd.launch(); err != nil {
			return nodes, err
		}
	}
	for _, nd := range nodes {
		if err := nd.waitReady(); err != nil {
			return nodes, err
		}
	}
	return nodes, nil
}

func (n *natsServer) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

// start launches the server and waits until JetStream answers.
func (n *natsServer) start() error {
	if err := n.launch(); err != nil {
		return err
	}
	return n.waitReady()
}

func (n *natsServer) launch() error {
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-js", "-sd", n.store}
	if n.name != "" {
		args = append(args, "--name", n.name, "--cluster_name", "relay-chaos",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", n.clusterPort), "--routes", n.routes)
	}
	p, err := startProc("nats-server", suite.natsBin, args, baseEnv(), n.log, filepath.Dir(n.store), nil)
	if err != nil {
		return err
	}
	n.p = p
	return nil
}

func (n *natsServer) waitReady() error {
	p := n.p
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := n.ping()
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("nats-server %s exited: %v\n%s", n.name, p.waitErr, tail(n.log, 20))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nats-server %s not ready after 30s: %v\n%s", n.name, err, tail(n.log, 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ping connects and asks JetStream for the account info.
func (n *natsServer) ping() error {
	nc, err := nats.Connect(n.url(), nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

func (n *natsServer) stop(sig syscall.Signal) error {
	if n.p == nil || n.p.exited() {
		return nil
	}
	n.p.signal(sig)
	if !n.p.wait(30 * time.Second) {
		n.p.kill9()
		return fmt.Errorf("nats-server ignored %v for 30s; killed", sig)
	}
	return nil
}

// --- relay ---

// relayProc is one relay replica: `relay serve` on its own HTTP port, with
// a new log file per start.
type relayProc struct {
	name   string
	port   int
	env    []string
	dir    string
	starts int
	p      *proc
	logs   []string
}

func (r *relayProc) url() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

// start runs `relay serve` and waits until /readyz answers 200; it returns
// the instant the process was started.
func (r *relayProc) start() (time.Time, error) {
	r.starts++
	logPath := filepath.Join(r.dir, fmt.Sprintf("%s.%d.log", r.name, r.starts))
	r.logs = append(r.logs, logPath)
	p, err := startProc(r.name, suite.relayBin, []string{"serve"}, r.env, logPath, r.dir, nil)
	if err != nil {
		return time.Time{}, err
	}
	r.p = p
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(r.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p.started, nil
			}
		}
		if p.exited() {
			return p.started, fmt.Errorf("%s exited at start: %v\n%s", r.name, p.waitErr, tail(logPath, 20))
		}
		if time.Now().After(deadline) {
			return p.started, fmt.Errorf("%s not ready 30s after start\n%s", r.name, tail(logPath, 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stopGracefully sends SIGTERM and waits for a clean exit; it returns how
// long that took.
func (r *relayProc) stopGracefully(limit time.Duration) (time.Duration, error) {
	if r.p == nil || r.p.exited() {
		return 0, nil
	}
	t0 := time.Now()
	r.p.signal(syscall.SIGTERM)
	if !r.p.wait(limit) {
		r.p.kill9()
		return time.Since(t0), fmt.Errorf("hang: %s (pid %d) did not exit within %s of SIGTERM; killed. Log tail:\n%s",
			r.name, r.p.pid(), limit, tail(r.p.logPath, 20))
	}
	var exitErr *exec.ExitError
	if errors.As(r.p.waitErr, &exitErr) {
		return time.Since(t0), fmt.Errorf("%s exited with %v after SIGTERM. Log tail:\n%s", r.name, r.p.waitErr, tail(r.p.logPath, 20))
	}
	return time.Since(t0), nil
}

// grepLogs scans every log file of the replica.
func (r *relayProc) grepLogs(f func(path string, lineNo int, line []byte)) {
	for _, path := range r.logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for i, line := range bytes.Split(b, []byte("\n")) {
			f(path, i+1, line)
		}
	}
}
