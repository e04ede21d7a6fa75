// Command relay receives "registration succeeded" events over HTTP, makes
// them durable in NATS JetStream, records them in PostgreSQL and confirms
// them with the SMS vendor, retrying through outages.
//
// Subcommands: serve (default), migrate, status, vendors, keys, balance, replay,
// resume, fake-ctrack, version.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage: relay <command> [flags]

commands:
  serve          run ingest, workers and pollers (RELAY_ROLE splits them)
  migrate        apply database migrations and exit
  status <id>    print an event and its vendor calls as JSON, as the admin
                 API's /admin/v1/attempts/{id} (id or vendor:message_id)
  status         without an id: each enabled vendor's state, calls per minute
                 and latency over 5 minutes, fleet-wide (--json)
  vendors        list the enabled vendors: credentials set (yes/no), limits and
                 pause state (--json)
  keys           create --name N | list [--all] [--json] | revoke N: ingest API keys
  balance        ask every configured vendor for its balances now (--json)
  replay         re-send failed events through the running relay's admin API
                 (--state failed --vendor V --since 24h --until T | --ids-file F;
                 --dry-run, --force, --url, --json; needs RELAY_ADMIN_TOKEN)
  resume <v>     lift vendor v's credentials pause (admin API; RELAY_ADMIN_TOKEN)
  fake-ctrack    run a fake Liasmart CTrack for local trials
  version        print the version

Configuration is read from RELAY_* environment variables; see README.md.
`

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, args, getenv, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args, getenv, stdout, stderr)
	case "status":
		err = cmdStatus(ctx, args, getenv, stdout, stderr)
	case "vendors":
		err = cmdVendors(ctx, args, getenv, stdout, stderr)
	case "balance":
		err = cmdBalance(ctx, args, getenv, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, args, getenv, stdout, stderr)
	case "replay":
		err = cmdReplay(ctx, args, getenv, stdout, stderr)
	case "resume":
		err = cmdResume(ctx, args, getenv, stdout, stderr)
	case "fake-ctrack":
		err = cmdFakeCTrack(ctx, args, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "relay", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "relay: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "relay %s: %v\n", cmd, err)
			return 2
		}
		fmt.Fprintf(stderr, "relay %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func newLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level)))
	opts := &slog.HandlerOptions{Level: lv, ReplaceAttr: durationText}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationText writes durations as Go duration strings ("100ms",
// "720h0m0s"): the JSON handler would write integer nanoseconds, which
// nobody reads at a glance, and the text handler writes the same string,
// so both formats agree. Attributes inside groups pass through here too.
func durationText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
