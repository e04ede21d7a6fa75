package outbound

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"relay/internal/store"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart"
)

// FuzzVendorAnswer sends whatever a vendor may answer (a status, a
// content type, a body) through the CTrack client, decide and RecordBatch
// into PostgreSQL. Whatever it is, the batch commits, the call's attempt
// is recorded, and what was recorded is valid UTF-8 without NUL and
// without a credential. The seed corpus (testdata/fuzz) runs with go test.
func FuzzVendorAnswer(f *testing.F) {
	const apiID, password = "API-fuzz-4623", "fuzz-Secret-Passw0rd-CTrack"
	st, _ := testenv.Store(f)
	var mu sync.Mutex
	var status int
	var contentType string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		s, ct, b := status, contentType, body
		mu.Unlock()
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(s)
		_, _ = w.Write(b)
	}))
	f.Cleanup(srv.Close)
	client := liasmart.New(liasmart.Config{BaseURL: srv.URL, APIID: apiID, APIPassword: password, Timeout: 2 * time.Second})
	pol := policy{maxAttempts: 3, backoff: Backoff{Base: time.Second, Max: time.Minute}, probe: time.Minute}

	f.Fuzz(func(t *testing.T, s int, ct string, b []byte) {
		if s < 0 {
			s = -s
		}
		mu.Lock()
		status, contentType, body = 200+s%400, ct, b
		mu.Unlock()
		ctx := context.Background()
		ev := store.NewEvent{ID: uuid.New(), Vendor: "liasmart", MessageID: uuid.NewString()}
		token := uuid.New()
		claimed, err := st.ClaimEvents(ctx, token, time.Minute, []store.NewEvent{ev})
		if err != nil || len(claimed) != 1 || !claimed[0].Mine {
			t.Fatalf("claim: %+v, %v", claimed, err)
		}
		started := time.Now()
		res, rawErr := client.Call(ctx, ev.MessageID)
		answer, callErr := liasmart.Answer(res, rawErr)
		c := call{answer: answer, err: callErr, started: started, duration: time.Since(started), done: time.Now()}
		v := decide(pol, claimed[0].Event, c, time.Now())
		vc := vendorCall{vendor: "liasmart", done: c.done, signal: v.signal}
		if v.signal == refused {
			vc.reason, vc.code = v.result.LastError, answer.Code()
		}
		_, err = recordBatch(ctx, st, store.Batch{Token: token, Release: []uuid.UUID{ev.ID},
			Results: []store.Result{v.result}}, tally([]vendorCall{vc}, 0))
		if err != nil {
			t.Fatalf("RecordBatch refused the answer (HTTP %d, %q, %q): %v", status, ct, b, err)
		}
		attempts, err := st.Attempts(ctx, ev.ID)
		if err != nil || len(attempts) != 1 {
			t.Fatalf("%d attempts recorded (%v), want 1", len(attempts), err)
		}
		e, err := st.Event(ctx, ev.ID)
		if err != nil || e.Attempts != 1 {
			t.Fatalf("event %+v, %v; want its attempt counted", e, err)
		}
		texts := []string{attempts[0].Error, attempts[0].Outcome}
		if e.LastError != nil {
			texts = append(texts, *e.LastError)
		}
		if callErr != nil {
			texts = append(texts, callErr.Error())
		}
		texts = append(texts, res.Description, answer.Status, answer.Meaning, callLabel(answer, callErr))
		// Pieces of the password the body holds only as part of it: a cut
		// made before the redaction would keep one.
		var pieces []string
		if rest := bytes.ReplaceAll(b, []byte(password), nil); len(rest) < len(b) {
			for _, p := range []string{password[:len(password)/2], password[len(password)/2:]} {
				if !bytes.Contains(rest, []byte(p)) {
					pieces = append(pieces, p)
				}
			}
		}
		for _, s := range texts {
			for _, p := range pieces {
				if strings.Contains(s, p) {
					t.Errorf("stored or logged text %q holds a piece of the password", s)
				}
			}
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Errorf("stored or logged text %q is not valid UTF-8 without NUL", s)
			}
			if strings.Contains(s, password) || strings.Contains(s, apiID) {
				t.Errorf("stored or logged text %q holds a credential", s)
			}
		}
		if e.VendorCode != nil && int(res.Code) != *e.VendorCode {
			t.Errorf("vendor_code %d stored for code %d", *e.VendorCode, res.Code)
		}
	})
}
