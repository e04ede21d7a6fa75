package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"relay/internal/bus"
	"relay/internal/config"
	"relay/internal/inbound"
	"relay/internal/metrics"
	"relay/internal/outbound"
	"relay/internal/outbox"
	"relay/internal/retention"
	"relay/internal/store"
	"relay/internal/telemetry"
)

// Main is one relay process: configuration in, running parts out. Tests
// build it the same way `relay serve` does and run it in-process.
type Main struct {
	Config  config.Config
	Logger  *slog.Logger
	Metrics *metrics.Metrics
	// TracerProvider traces ingest, publish, worker, vendor calls and
	// PostgreSQL. Open sets it from the OTEL_* variables (telemetry.Setup)
	// unless it is set already (tests inject an in-memory one); nil is off.
	TracerProvider trace.TracerProvider
	// shutdownTracing flushes the spans of a provider Open built.
	shutdownTracing func(context.Context) error

	Store  *store.Store
	Bus    *bus.Bus
	Server *inbound.Server
	// Workers confirm registrations, one per enabled vendor.
	Workers []*outbound.Worker
	// Outbox publishes what commits wrote to the outbox (alerts,
	// re-drives of replays and resumes); every process runs one.
	Outbox *outbox.Publisher
	// Reconciler re-drives owed events from PostgreSQL (worker roles;
	// one replica at a time holds its lease).
	Reconciler *outbound.Reconciler

	// background runs alongside the server and the worker until shutdown
	// (key reload, pollers, ...); each returns when its context ends.
	background []func(context.Context)

	ln net.Listener
	// metricsLn and metricsSrv serve /metrics on RELAY_METRICS_ADDR when
	// it is set.
	metricsLn  net.Listener
	metricsSrv *http.Server
}

// NewMain returns a Main for cfg.
func NewMain(cfg config.Config, logger *slog.Logger) *Main {
	if logger == nil {
		logger = slog.Default()
	}
	return &Main{Config: cfg, Logger: logger, Metrics: metrics.New()}
}

// Open connects to PostgreSQL (creating the database and migrating it),
// to NATS (or starts the embedded server), ensures the stream and the
// consumer, and builds the HTTP server and the worker. It listens but does
// not serve yet: Addr is known after Open.
func (m *Main) Open(ctx context.Context) (err error) {
	cfg := m.Config
	defer func() {
		if err != nil {
			m.Close()
		}
	}()
	if m.TracerProvider == nil {
		m.TracerProvider, m.shutdownTracing, err = telemetry.Setup(ctx, version, m.Logger)
		if err != nil {
			return err
		}
		if m.TracerProvider != nil {
			m.Logger.Info("tracing on (OTEL_* variables)")
		}
	}
	m.Store, err = store.Open(ctx, cfg.DatabaseURL, store.Options{TracerProvider: m.TracerProvider})
	if err != nil {
		return err
	}
	applied, err := m.Store.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) > 0 {
		m.Logger.Info("migrations applied", "versions", applied)
	}
	m.Bus, err = bus.Open(ctx, bus.Options{
		URL: cfg.NATSURL, DataDir: cfg.DataDir,
		Listen: cfg.NATSListen, ListenToken: cfg.NATSListenToken, Logger: m.Logger,
	})
	if err != nil {
		return err
	}
	if err = m.Bus.EnsureStreams(ctx, bus.StreamOptions{
		Duplicates: cfg.DedupWindow, MaxAge: cfg.StreamMaxAge,
		Replicas: cfg.StreamReplicas, EventsMaxAge: cfg.EventsMaxAge,
	}); err != nil {
		return err
	}

	m.Outbox = outbox.NewPublisher(m.Store, m.Bus.JS, m.Logger)
	m.background = append(m.background, func(ctx context.Context) { m.Outbox.Run(ctx, time.Second) })

	var clients map[string]outbound.Confirmer
	if cfg.Role != config.RoleIngest {
		if clients, err = openConfirmers(ctx, cfg, m.Logger); err != nil {
			return err
		}
	}

	if cfg.Role != config.RoleWorker {
		keys := map[string]string{}
		for _, k := range cfg.APIKeys {
			keys[k.Name] = k.Secret
		}
		signed := map[string]string{}
		for _, name := range cfg.SignedKeys {
			signed[name] = keys[name]
		}
		if len(keys) == 0 {
			m.Logger.Warn("no API keys configured (RELAY_API_KEYS): every ingest request will answer 401")
		}
		for _, name := range cfg.DemoKeys() {
			m.Logger.Warn("RELAY_API_KEYS: key uses the published demo secret; change it before anyone else can reach this relay", "key", name)
		}
		m.Server = inbound.New(inbound.Config{
			Vendors:    cfg.ConfirmVendors,
			APIKeys:    keys,
			KeySource:  m.Store,
			AdminToken: cfg.AdminToken,
			RateLimit:  float64(cfg.RateLimit),
			SignedKeys: signed,
			// The window the streams were created with: older events ask
			// PostgreSQL whether they are repeats.
			DedupWindow: cfg.DedupWindow,
			Ready: map[string]inbound.Check{
				"postgres": m.Store.Ping,
				"nats":     m.Bus.Ping,
			},
			Connected: m.Bus.Connected,
			Logger:    m.Logger,
			Metrics:   m.Metrics,
			// With RELAY_METRICS_ADDR the API listener shows no vendor
			// balances or pause states to whoever can reach it.
			MetricsElsewhere: cfg.MetricsAddr != "",

			TracerProvider: m.TracerProvider,
		}, m.Bus.JS, m.Store)
		if err := m.Server.Keys().Reload(ctx, m.Store); err != nil {
			return fmt.Errorf("loading API keys: %w", err)
		}
		m.background = append(m.background, func(ctx context.Context) { m.Server.RunKeyReload(ctx, 2*time.Second) })
		m.ln, err = net.Listen("tcp", cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("listen on RELAY_HTTP_ADDR=%s: %w", cfg.HTTPAddr, err)
		}
		if cfg.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return fmt.Errorf("RELAY_TLS_CERT/RELAY_TLS_KEY: %w", err)
			}
			m.ln = tls.NewListener(m.ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
	}
	if cfg.Role != config.RoleIngest {
		// One worker per vendor, each with its own consumer and calls in
		// flight: a paused, slow or rate-limited vendor holds back its
		// own events and no other vendor's.
		for _, v := range cfg.EnabledConfirmVendors() {
			consumer, err := m.Bus.EnsureConsumer(ctx, bus.ConsumerOptions{
				Vendor:        v.Name,
				AckWait:       cfg.AckWait,
				MaxAckPending: max(20000, 4*cfg.WorkerBatch),
			})
			if err != nil {
				return err
			}
			m.Workers = append(m.Workers, outbound.NewWorker(outbound.Config{
				Confirmers:       map[string]outbound.Confirmer{v.Name: clients[v.Name]},
				MaxAttempts:      cfg.MaxAttempts,
				Backoff:          outbound.Backoff{Base: cfg.RetryBase, Max: cfg.RetryMax, Schedule: cfg.RetrySchedule},
				PauseProbe:       cfg.PauseProbe,
				BreakerThreshold: cfg.BreakerThreshold,
				VendorTimeout:    cfg.VendorTimeout,
				Concurrency:      cfg.InFlight(v),
				Rate:             float64(v.Limits.Rate),
				Batch:            cfg.WorkerBatch,
				AckWait:          cfg.AckWait,
				Nudge:            m.Outbox.Nudge,
				Logger:           m.Logger,
				Metrics:          m.Metrics,
				TracerProvider:   m.TracerProvider,
			}, m.Store, m.Bus.JS, consumer))
		}
		var callable []string
		for vendor, c := range clients {
			if c != nil {
				callable = append(callable, vendor)
			}
		}
		m.Reconciler = outbound.NewReconciler(outbound.ReconcilerConfig{
			Vendors: callable, Probe: cfg.PauseProbe,
			// It also sends the probes' events: at least once per probe interval.
			Interval: min(10*time.Second, max(cfg.PauseProbe, time.Second)),
			// Past the consumer's redelivery, so a message that is merely
			// slow is not doubled: under a minute in all with the default.
			Grace:  max(30*time.Second, cfg.AckWait+5*time.Second),
			Holder: holderName(),
			Nudge:  m.Outbox.Nudge, Logger: m.Logger, Metrics: m.Metrics,
		}, m.Store)
		m.background = append(m.background, m.Reconciler.Run)
	}
	if cfg.Role != config.RoleIngest {
		// One replica at a time (a lease) deletes final rows older than
		// RELAY_RETENTION; with 0 it logs that it is off and returns.
		janitor := retention.New(retention.Config{Retention: cfg.Retention, Logger: m.Logger, Metrics: m.Metrics}, m.Store)
		m.background = append(m.background, janitor.Run)
	}
	if cfg.MetricsAddr != "" {
		if err := m.openMetrics(cfg.MetricsAddr); err != nil {
			return err
		}
	}
	if err := m.openOps(ctx); err != nil {
		return err
	}
	return m.openMonitor(ctx)
}

// openMetrics binds RELAY_METRICS_ADDR, in every role: a worker-only
// process has no other listener to be scraped on.
func (m *Main) openMetrics(addr string) (err error) {
	m.metricsLn, err = net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on RELAY_METRICS_ADDR=%s: %w", addr, err)
	}
	m.metricsSrv = &http.Server{
		Handler: inbound.MetricsHandler(m.Metrics),
		// A scraper sends its request at once; a client that does not
		// holds a connection for nothing.
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// MetricsAddr is the RELAY_METRICS_ADDR listener's address (with the real
// port when :0 was asked); "" when it is not set.
func (m *Main) MetricsAddr() string {
	if m.metricsLn == nil {
		return ""
	}
	return m.metricsLn.Addr().String()
}

// Addr is the HTTP listen address (with the real port when :0 was asked).
func (m *Main) Addr() string {
	if m.ln == nil {
		return ""
	}
	return m.ln.Addr().String()
}

// Run serves until ctx is cancelled, then shuts down in order: stop taking
// requests (finishing those in flight), stop the workers (finishing their
// batches), then close NATS and PostgreSQL.
func (m *Main) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2+len(m.Workers))
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorker()
	if m.Server != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.Server.App().Listener(m.ln); err != nil {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
		m.Logger.Info("relay listening", "addr", m.Addr(), "role", m.Config.Role, "version", version)
	}
	var metricsDone chan struct{}
	if m.metricsSrv != nil {
		metricsDone = make(chan struct{})
		go func() {
			defer close(metricsDone)
			if err := m.metricsSrv.Serve(m.metricsLn); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
		m.Logger.Info("metrics listening", "addr", m.MetricsAddr())
	}
	for _, w := range m.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Run(workerCtx); err != nil {
				errc <- fmt.Errorf("worker: %w", err)
			}
		}()
	}
	for _, f := range m.background {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(workerCtx)
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
		m.Logger.Info("shutting down")
	case runErr = <-errc:
		m.Logger.Error("stopping after failure", "err", runErr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
	defer cancel()
	if m.Server != nil {
		if err := m.Server.Shutdown(shutdownCtx); err != nil {
			m.Logger.Warn("http shutdown", "err", err)
		}
	}
	stopWorker()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutdownCtx.Done():
		// The batches in hand give up (calls cancelled, claims left to run
		// out, messages redelivered); the store is closed only once they
		// have, never under them.
		m.Logger.Warn("shutdown timeout; abandoning the batches in hand, their messages will be redelivered")
		for _, w := range m.Workers {
			w.Abort()
		}
		<-done
	}
	if m.metricsSrv != nil {
		// Last of the listeners, so that the drain can still be scraped.
		// With the budget spent Shutdown returns at once, and Close drops
		// the scrapes in flight.
		if err := m.metricsSrv.Shutdown(shutdownCtx); err != nil {
			m.Logger.Warn("metrics shutdown", "err", err)
			_ = m.metricsSrv.Close()
		}
		<-metricsDone
	}
	m.Close()
	return runErr
}

// Close releases the connections (Run does it on its way out).
func (m *Main) Close() {
	if m.ln != nil {
		// After Run the server has closed it already; after a failed Open
		// nobody has, and the port must not stay taken.
		_ = m.ln.Close()
	}
	if m.metricsLn != nil {
		// Likewise: Shutdown closed it after Run, nothing did after a
		// failed Open.
		_ = m.metricsLn.Close()
	}
	if m.Server != nil {
		// Run's Shutdown did it already; after a failed Open nobody has.
		m.Server.Close()
	}
	if m.Bus != nil {
		m.Bus.Close()
		m.Bus = nil
	}
	if m.Store != nil {
		m.Store.Close()
		m.Store = nil
	}
	if m.shutdownTracing != nil {
		// Last, so that the spans of the shutdown itself are flushed too.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.shutdownTracing(ctx); err != nil {
			m.Logger.Warn("flushing traces", "err", err)
		}
		cancel()
		m.shutdownTracing = nil
	}
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if len(args) > 0 {
		return usageError{errors.New("serve takes no arguments; configure with RELAY_* variables")}
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	applyMemoryLimit(log, memlimit.FromCgroup)
	m := NewMain(cfg, log)
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := m.Open(openCtx); err != nil {
		return err
	}
	return m.Run(ctx)
}

func cmdMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usageError{errors.New("migrate takes no arguments")}
	}
	st, _, err := openCLIStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "database is up to date")
		return nil
	}
	versions := make([]string, len(applied))
	for i, v := range applied {
		versions[i] = strconv.Itoa(v)
	}
	fmt.Fprintf(stdout, "applied migrations %s\n", strings.Join(versions, ", "))
	return nil
}

// openCLIStore is how the one-shot commands (migrate, status, keys) reach
// PostgreSQL: configuration validated as for serve, a small pool.
func openCLIStore(ctx context.Context, getenv func(string) string) (*store.Store, config.Config, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, cfg, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: 2})
	return st, cfg, err
}

// holderName names this process in leases: host, pid and a random suffix,
// so two processes never share one.
func holderName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
}
