package liasmarttest_test

import (
	"bytes"
	"net/http"
	"sync"
	"testing"
	"time"

	"relay/internal/vendors/liasmart/liasmarttest"
)

func TestOverlapsCountsConcurrentCallsPerMessageID(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var arrived sync.WaitGroup
	arrived.Add(2)
	fake, srv := liasmarttest.NewServer(t, liasmarttest.Options{Script: func(messageID string, n int) *liasmarttest.Reply {
		if messageID == "both" {
			arrived.Done()
			<-release
		}
		return nil
	}})
	post := func(id string) {
		body := []byte(`{"api_id":"a","api_password":"p","message_id":"` + id + `","status":"true"}`)
		resp, err := http.Post(srv.URL+"/api/CTrack", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	post("alone")
	post("alone")
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); post("both") }()
	}
	done := make(chan struct{})
	go func() { arrived.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the two calls never overlapped")
	}
	close(release)
	wg.Wait()
	got := fake.Overlaps()
	if len(got) != 1 || got["both"] != 2 {
		t.Fatalf("Overlaps() = %v, want only both:2 (sequential calls of alone do not overlap)", got)
	}
}
