package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// cmdResume lifts a vendor's pause (credentials fixed, or the vendor back
// after an outage) through the admin API; its paused events go out at once.
func cmdResume(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("resume", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseURL := fs.String("url", "", "relay's base URL (default http:// + RELAY_HTTP_ADDR)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("usage: relay resume [--url URL] <vendor>")}
	}
	client, err := newAdminClient(*baseURL, getenv)
	if err != nil {
		return err
	}
	res, err := client.resume(ctx, fs.Arg(0))
	if err != nil {
		return err
	}
	if res.Resumed {
		fmt.Fprintf(stdout, "vendor %s resumed; %d paused events sent to the workers\n", res.Vendor, res.Requeued)
	} else {
		fmt.Fprintf(stdout, "vendor %s was not paused; nothing to do\n", res.Vendor)
	}
	return nil
}
