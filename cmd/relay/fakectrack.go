package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"relay/internal/vendors/liasmart/liasmarttest"
)

// cmdFakeCTrack serves the test fake of Liasmart CTrack, so that a newcomer
// can watch events get confirmed without vendor credentials.
func cmdFakeCTrack(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fake-ctrack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9090", "listen address")
	latency := fs.Duration("latency", 0, "added to every answer")
	apiID := fs.String("api-id", "", "require this api_id (others get 1003)")
	apiPassword := fs.String("api-password", "", "require this api_password (others get 1004)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	fake := liasmarttest.New(liasmarttest.Options{APIID: *apiID, APIPassword: *apiPassword, Latency: *latency})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stdout, "fake CTrack on http://%s/api/CTrack (first call per message_id: 1000, later: 1009)\n", ln.Addr())
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintf(stdout, "fake CTrack: %d calls\n", len(fake.Calls()))
	return nil
}
