package testenv

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATSServerBinary is the nats-server the cluster helpers run, from
// RELAY_TEST_NATS_SERVER (default /usr/sbin/nats-server, the machine's
// 2.9 package).
func NATSServerBinary() string {
	if p := os.Getenv("RELAY_TEST_NATS_SERVER"); p != "" {
		return p
	}
	return "/usr/sbin/nats-server"
}

// Node is one nats-server process of a Cluster.
type Node struct {
	// Name is the server name (n0, n1, ...), as stream infos report
	// leaders and replicas.
	Name string
	// URL is the client URL, nats://127.0.0.1:port.
	URL string
	// Dir holds the node's JetStream store and its log (nats.log).
	Dir string

	args    []string
	monitor int
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
}

// Cluster is a set of nats-server processes from NATSServerBinary: one
// standalone server, or a JetStream cluster whose nodes route to each
// other. Each node has its own ports and a store dir in the test's temp
// dir; all are killed when the test ends.
type Cluster struct {
	Nodes []*Node
	t     testing.TB
}

// NATSCluster starts n nats-server processes (n >= 1; more than one form
// the JetStream cluster "relay-test") and waits until each answers and,
// for a cluster, until JetStream has a meta leader. Without the binary
// the test is skipped, or fails under CI=1.
func NATSCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin := NATSServerBinary()
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("nats-server binary %s (RELAY_TEST_NATS_SERVER): %v", bin, err)
		}
		t.Skipf("no nats-server binary at %s (set RELAY_TEST_NATS_SERVER): %v", bin, err)
	}
	c := &Cluster{t: t}
	clientPorts, clusterPorts, monitorPorts := freePorts(t, n), freePorts(t, n), freePorts(t, n)
	var routes []string
	for i := range n {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(clusterPorts[i]))
	}
	base := t.TempDir()
	for i := range n {
		nd := &Node{
			Name:    "n" + strconv.Itoa(i),
			URL:     "nats://127.0.0.1:" + strconv.Itoa(clientPorts[i]),
			Dir:     filepath.Join(base, "n"+strconv.Itoa(i)),
			monitor: monitorPorts[i],
		}
		if err := os.MkdirAll(nd.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		nd.args = []string{
			"--name", nd.Name, "-a", "127.0.0.1", "-p", strconv.Itoa(clientPorts[i]),
			"-m", strconv.Itoa(monitorPorts[i]), "-js", "-sd", nd.Dir,
			"-l", filepath.Join(nd.Dir, "nats.log"),
		}
		if n > 1 {
			nd.args = append(nd.args, "--cluster_name", "relay-test",
				"--cluster", routes[i], "--routes", strings.Join(routes, ","))
		}
		c.Nodes = append(c.Nodes, nd)
	}
	t.Cleanup(func() {
		for _, nd := range c.Nodes {
			nd.kill()
		}
	})
	for _, nd := range c.Nodes {
		c.start(nd)
	}
	for _, nd := range c.Nodes {
		c.waitReady(nd)
	}
	return c
}

// URLs is every node's client URL, comma separated, for nats.Connect.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Nodes))
	for i, nd := range c.Nodes {
		urls[i] = nd.URL
	}
	return strings.Join(urls, ",")
}

// Connect returns a connection to the cluster (any node, reconnecting to
// the others), closed when the test ends.
func (c *Cluster) Connect(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to the nats cluster: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// StreamLeader returns the node leading stream, waiting (up to 30s) until
// the stream has a leader.
func (c *Cluster) StreamLeader(t testing.TB, js jetstream.JetStream, stream string) *Node {
	t.Helper()
	var leader *Node
	Eventually(t, 30*time.Second, "a leader of stream "+stream, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return false
		}
		info := s.CachedInfo()
		if info.Cluster == nil {
			return false
		}
		leader = c.Node(info.Cluster.Leader)
		return leader != nil
	})
	return leader
}

// Node returns the node named name, or nil.
func (c *Cluster) Node(name string) *Node {
	for _, nd := range c.Nodes {
		if nd.Name == name {
			return nd
		}
	}
	return nil
}

// Kill sends SIGKILL to nd and waits until the process is gone.
func (c *Cluster) Kill(nd *Node) { nd.kill() }

// Restart starts a killed nd again on its ports and store dir, and waits
// until it answers (and, in a cluster, sees a meta leader).
func (c *Cluster) Restart(t testing.TB, nd *Node) {
	t.Helper()
	c.start(nd)
	c.waitReady(nd)
}

func (c *Cluster) start(nd *Node) {
	c.t.Helper()
	nd.mu.Lock()
	defer nd.mu.Unlock()
	cmd := exec.Command(NATSServerBinary(), nd.args...)
	if err := cmd.Start(); err != nil {
		c.t.Fatalf("start nats-server %s: %v", nd.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	nd.cmd, nd.exited = cmd, exited
}

func (nd *Node) kill() {
	nd.mu.Lock()
	cmd, exited := nd.cmd, nd.exited
	nd.cmd = nil
	nd.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// waitReady polls the node's monitoring endpoint until it is healthy and,
// for a cluster, knows the JetStream meta leader.
func (c *Cluster) waitReady(nd *Node) {
	c.t.Helper()
	client := &http.Client{Timeout: time.Second}
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, why := nd.ready(client, len(c.Nodes) > 1)
		if ok {
			return
		}
		last = why
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(nd.Dir, "nats.log"))
			c.t.Fatalf("nats-server %s not ready in 30s (%s); log:\n%s", nd.Name, last, tail(log, 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (nd *Node) ready(client *http.Client, clustered bool) (bool, string) {
	// The monitoring port answers before the client port listens.
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(nd.URL, "nats://"), time.Second)
	if err != nil {
		return false, err.Error()
	}
	_ = conn.Close()
	resp, err := client.Get("http://127.0.0.1:" + strconv.Itoa(nd.monitor) + "/jsz")
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	var jsz struct {
		Meta *struct {
			Leader string `json:"leader"`
		} `json:"meta_cluster"`
		Disabled bool `json:"disabled"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&jsz); err != nil {
		return false, "jsz: " + err.Error()
	}
	switch {
	case jsz.Disabled:
		return false, "jetstream disabled"
	case !clustered:
		return true, ""
	case jsz.Meta == nil || jsz.Meta.Leader == "":
		return false, "no meta leader yet"
	}
	return true, ""
}

// freePorts asks the kernel for n free local ports. Another process may
// take one before the server binds it; that shows as a start failure.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		_ = ln.Close()
	}
	return ports
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
