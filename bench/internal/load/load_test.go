package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestRuns(t *testing.T) {
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	target := &Target{
		URL: srv.URL, Header: http.Header{"Content-Type": {"application/json"}}, Seq: new(atomic.Int64),
		Body: func(buf []byte, n int64) []byte { return strconv.AppendInt(buf, n, 10) },
	}
	client := NewClient(4)
	ctx := context.Background()

	c := Closed(ctx, client, target, 4, 50*time.Millisecond, 200*time.Millisecond)
	if c.Requests == 0 || c.Errors != 0 || c.Rate <= 0 || c.Total < c.Requests || c.Latency.N != int(c.Requests) {
		t.Fatalf("closed: %+v", c)
	}
	o := Open(ctx, client, target, 500, 4, 100*time.Millisecond, 400*time.Millisecond)
	if o.Requests < 150 || o.Requests > 250 || o.Errors != 0 || o.Offered != 500 {
		t.Fatalf("open at 500/s for 0.4s: %+v", o)
	}
	f := Fixed(ctx, client, target, 3, 10)
	if f.Requests != 10 || f.Errors != 0 {
		t.Fatalf("fixed: %+v", f)
	}
	rejecting := *target
	rejecting.OK = func(status int, _ []byte) bool { return status == http.StatusOK }
	if r := Fixed(ctx, client, &rejecting, 2, 4); r.Errors != 4 || r.Statuses[http.StatusAccepted] != 4 {
		t.Fatalf("errors not counted: %+v", r)
	}
}
