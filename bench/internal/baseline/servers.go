// Package baseline holds what relay's figures are compared with: a bare
// Fiber handler, a naive handler doing one synchronous JetStream publish per
// request, raw JetStream async publishing and raw PostgreSQL writes. The
// servers run in their own processes (relaybench serve-bare / serve-naive)
// so that, like relay, they do not share a process with the load generator.
package baseline

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/nats-io/nats.go/jetstream"

	"relay/bench/internal/workload"
	"relay/internal/bus"
)

// ServeBare answers 202 to every POST /v1/registrations, doing nothing
// else, until ctx ends.
func ServeBare(ctx context.Context, addr string) error {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/v1/registrations", func(c *fiber.Ctx) error { return c.SendStatus(fiber.StatusAccepted) })
	return serve(ctx, app, addr)
}

func serve(ctx context.Context, app *fiber.App, addr string) error {
	errc := make(chan error, 1)
	go func() { errc <- app.Listen(addr) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return app.ShutdownWithTimeout(5 * time.Second)
	}
}

type naiveEvent struct {
	Vendor     string          `json:"vendor"`
	MessageID  string          `json:"message_id"`
	Status     bool            `json:"status"`
	OccurredAt *time.Time      `json:"occurred_at"`
	Metadata   json.RawMessage `json:"metadata"`
}

// ServeNaive is the straightforward ingest handler: check the bearer
// token, decode the event into a struct, build the same JetStream payload
// as relay and publish it synchronously (js.Publish with WithMsgID), then
// answer 202. NATS is embedded in the process, storing in dataDir, with
// relay's stream configuration. With async, the handler publishes with
// PublishAsync and waits for that ack instead: still one event durable
// before its 202, but concurrent requests share the connection's flushes
// and its one reply subscription.
func ServeNaive(ctx context.Context, addr, dataDir, token string, async bool) error {
	b, err := bus.Open(ctx, bus.Options{DataDir: dataDir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx, relayStreams); err != nil {
		return err
	}
	want := "Bearer " + token
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Post("/v1/registrations", func(c *fiber.Ctx) error {
		if c.Get(fiber.HeaderAuthorization) != want {
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		var ev naiveEvent
		if err := json.Unmarshal(c.Body(), &ev); err != nil || ev.Vendor == "" || ev.MessageID == "" || !ev.Status {
			return c.SendStatus(fiber.StatusUnprocessableEntity)
		}
		id := workload.EventID(ev.MessageID).String()
		data, _ := json.Marshal(bus.Registration{
			ID: id, Vendor: ev.Vendor, MessageID: ev.MessageID, OccurredAt: ev.OccurredAt,
			Metadata: ev.Metadata, APIKey: "bench", ReceivedAt: time.Now().UTC(),
		})
		var ack *jetstream.PubAck
		if async {
			f, err := b.JS.PublishAsync(bus.RegistrationSubject(ev.Vendor), data, jetstream.WithMsgID(id))
			if err != nil {
				return c.SendStatus(fiber.StatusServiceUnavailable)
			}
			select {
			case ack = <-f.Ok():
			case <-f.Err():
				return c.SendStatus(fiber.StatusServiceUnavailable)
			case <-time.After(5 * time.Second):
				return c.SendStatus(fiber.StatusServiceUnavailable)
			}
		} else {
			pctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
			defer cancel()
			var err error
			if ack, err = b.JS.Publish(pctx, bus.RegistrationSubject(ev.Vendor), data, jetstream.WithMsgID(id)); err != nil {
				return c.SendStatus(fiber.StatusServiceUnavailable)
			}
		}
		status := fiber.StatusAccepted
		if ack.Duplicate {
			status = fiber.StatusOK
		}
		return c.Status(status).JSON(fiber.Map{"id": id, "status": "accepted", "duplicate": ack.Duplicate})
	})
	return serve(ctx, app, addr)
}
