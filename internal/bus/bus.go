// Package bus owns relay's use of NATS JetStream: the embedded server, the
// connection, the two streams (RELAY_REGISTRATIONS, RELAY_EVENTS), their
// subjects and the worker's durable consumer. Other packages get a
// jetstream.JetStream and subject names.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConsumerName is the workers' consumer of every vendor at once, as
// relay had it before each vendor got its own (VendorConsumer);
// EnsureConsumer deletes it.
const ConsumerName = "relay-workers"

// VendorConsumer is the durable pull consumer of one vendor's
// registrations, which the workers of every replica share: a paused,
// slow or rate-limited vendor holds back its own messages and no other
// vendor's.
func VendorConsumer(vendor string) string { return ConsumerName + "-" + vendor }

// Subjects.
const (
	// RegistrationsPrefix + vendor carries accepted registration events.
	RegistrationsPrefix = "relay.registrations."
	// RegistrationsAll is every vendor's registrations: the stream's subjects.
	RegistrationsAll = "relay.registrations.>"
)

// RegistrationSubject is where ingest publishes an event for vendor.
func RegistrationSubject(vendor string) string { return RegistrationsPrefix + vendor }

// ConfirmationSubject carries the outcome of an event.
func ConfirmationSubject(vendor, outcome string) string {
	return "relay.confirmations." + vendor + "." + outcome
}

// AlertSubject carries alerts about vendor (bad credentials, low balance).
func AlertSubject(vendor string) string { return "relay.alerts." + vendor }

// BalanceSubject carries each balance reading of vendor.
func BalanceSubject(vendor string) string { return "relay.balances." + vendor }

// ReportSubject carries the final delivery report of each tracked message
// of vendor.
func ReportSubject(vendor string) string { return "relay.reports." + vendor }

// Options configure Open.
type Options struct {
	// URL of a NATS server; empty starts an embedded one.
	URL string
	// DataDir holds the embedded server's JetStream storage.
	DataDir string
	// Listen, when set, makes the embedded server accept TCP clients there
	// (port 0: any free port, see ListenAddr).
	Listen string
	// ListenToken, when set, is the token every client of the embedded
	// server must present, relay's own in-process connection included.
	ListenToken string
	// Name identifies the connection in the server's monitoring.
	Name   string
	Logger *slog.Logger
}

// Bus is a live NATS connection, with the embedded server when relay runs
// one.
type Bus struct {
	Conn      *nats.Conn
	JS        jetstream.JetStream
	srv       *server.Server
	log       *slog.Logger
	closed    chan struct{}
	connected atomic.Bool
}

// Open connects to NATS, or starts the embedded server and connects to it
// in-process, so that it never clashes with a NATS already on 4222.
func Open(ctx context.Context, o Options) (*Bus, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Name == "" {
		o.Name = "relay"
	}
	b := &Bus{log: o.Logger, closed: make(chan struct{})}
	opts := []nats.Option{
		nats.ClosedHandler(func(*nats.Conn) {
			b.connected.Store(false)
			close(b.closed)
		}),
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.connected.Store(false)
			if err != nil {
				o.Logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			b.connected.Store(true)
			o.Logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			o.Logger.Warn("nats async error", "err", err)
		}),
	}
	url := o.URL
	if url == "" {
		srv, err := StartEmbedded(o.DataDir, o.Listen, o.ListenToken)
		if err != nil {
			return nil, err
		}
		b.srv = srv
		opts = append(opts, nats.InProcessServer(srv))
		if o.ListenToken != "" {
			// The server asks in-process clients for the token as well.
			opts = append(opts, nats.Token(o.ListenToken))
		}
		o.Logger.Info("embedded nats started", "data_dir", o.DataDir, "listen", b.ListenAddr(), "token", o.ListenToken != "", "version", server.VERSION)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		b.shutdownServer()
		return nil, fmt.Errorf("bus: connect to nats: %w", err)
	}
	b.Conn = nc
	b.connected.Store(nc.IsConnected())
	js, err := jetstream.New(nc)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	b.JS = js
	return b, nil
}

// StartEmbedded starts a nats-server with JetStream storing under dataDir.
// Without listen it takes no TCP port: clients connect in-process. With
// token, every client (in-process ones too) must present it.
func StartEmbedded(dataDir, listen, token string) (*server.Server, error) {
	opts := &server.Options{
		ServerName:         "relay-embedded",
		JetStream:          true,
		StoreDir:           dataDir,
		NoSigs:             true,
		DontListen:         listen == "",
		MaxPayload:         4 << 20,
		JetStreamMaxMemory: 256 << 20,
		Authorization:      token,
	}
	if listen != "" {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("bus: RELAY_NATS_LISTEN=%q: %w", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("bus: RELAY_NATS_LISTEN=%q: bad port", listen)
		}
		if p == 0 {
			// nats-server reads 0 as its default port, 4222; a listen
			// address's 0 means any free port, which is its -1.
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("bus: embedded nats did not become ready in 30s")
	}
	return srv, nil
}

// ListenAddr is the embedded server's TCP address (with the real port
// when port 0 was asked); "" when it takes no TCP clients or relay
// connects to another server.
func (b *Bus) ListenAddr() string {
	if b.srv == nil {
		return ""
	}
	if a, ok := b.srv.Addr().(*net.TCPAddr); ok {
		return a.String()
	}
	return ""
}

// Connected reports whether the connection is up, without taking the
// connection's lock: ingest asks on every request.
func (b *Bus) Connected() bool { return b.connected.Load() }

// Ping checks the connection and that JetStream answers.
func (b *Bus) Ping(ctx context.Context) error {
	if !b.Conn.IsConnected() {
		return errors.New("bus: not connected to nats")
	}
	if _, err := b.JS.AccountInfo(ctx); err != nil {
		return fmt.Errorf("bus: jetstream: %w", err)
	}
	return nil
}

// Close drains the connection (flushing pending publishes) and stops the
// embedded server.
func (b *Bus) Close() {
	if b.Conn != nil {
		if err := b.Conn.Drain(); err == nil {
			select {
			case <-b.closed:
			case <-time.After(10 * time.Second):
			}
		}
		b.Conn.Close()
	}
	b.shutdownServer()
}

func (b *Bus) shutdownServer() {
	if b.srv != nil {
		b.srv.Shutdown()
		b.srv.WaitForShutdown()
		b.srv = nil
	}
}

// HeaderCarrier lets a text-map propagator (W3C trace context) read and
// write a message's headers. Keys are kept as the propagator gives them
// ("traceparent"): NATS headers are case-sensitive, and lower case is what
// other NATS tracers read.
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (h HeaderCarrier) Get(key string) string {
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key.
func (h HeaderCarrier) Set(key, value string) { h[key] = []string{value} }

// Keys lists the header names.
func (h HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	return keys
}
