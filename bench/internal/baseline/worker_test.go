package baseline_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"relay/bench/internal/baseline"
	"relay/bench/internal/workload"
	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

func TestNaiveWorkerConfirmsEveryEventOnce(t *testing.T) {
	t.Parallel()
	const n = 120
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dataDir := filepath.Join(t.TempDir(), "nats")
	if err := baseline.Fill(ctx, dataDir, "naivetest", n); err != nil {
		t.Fatalf("fill: %v", err)
	}
	fake, srv := liasmarttest.NewServer(t, liasmarttest.Options{APIID: "API-test", APIPassword: "test-password"})
	dbURL := testenv.DatabaseURL(t)

	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- baseline.RunWorker(wctx, baseline.WorkerOptions{DataDir: dataDir, DatabaseURL: dbURL, CTrackURL: srv.URL,
			APIID: "API-test", APIPassword: "test-password", Batch: 50, Concurrency: 8})
	}()
	testenv.Eventually(t, time.Minute, "every event confirmed by the vendor", func() bool { return len(fake.ConfirmedIDs()) == n })
	st, err := store.Open(ctx, dbURL, store.Options{MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	testenv.Eventually(t, time.Minute, "every event confirmed in PostgreSQL", func() bool {
		var c int
		_ = st.Pool().QueryRow(ctx, `SELECT count(*) FROM events WHERE state = 'confirmed' AND confirmed_at IS NOT NULL`).Scan(&c)
		return c == n
	})
	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("worker: %v", err)
	}
	for i := range n {
		mid := string(workload.MessageID(nil, "naivetest", int64(i)))
		if got := fake.Confirmations(mid); got != 1 {
			t.Errorf("%s confirmed %d times, want 1", mid, got)
		}
	}
}
