package outbound

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"relay/internal/vendors/confirm"
	"relay/internal/vendors/liasmart"
)

func TestClassifyEveryCode(t *testing.T) {
	t.Parallel()
	want := map[liasmart.Code]Decision{
		1000: Confirmed,
		1001: Fail, 1002: Fail,
		1003: Pause, 1004: Pause,
		1005: Fail, 1006: Fail, 1007: Fail, 1008: Fail,
		1009: AlreadyConfirmed,
		1010: Retry, 999: Retry, 0: Retry, -1: Retry,
	}
	for code, d := range want {
		if got := Classify(answerOf(liasmart.Result{Code: code, HTTPStatus: 200}, nil)); got != d {
			t.Errorf("Classify(%d) = %s, want %s", code, got, d)
		}
	}
	errs := []error{
		&liasmart.HTTPError{StatusCode: 503},
		&liasmart.HTTPError{StatusCode: 429},
		&liasmart.HTTPError{StatusCode: 404},
		fmt.Errorf("wrapped: %w", liasmart.ErrTimeout),
		fmt.Errorf("%w (body: garbage)", liasmart.ErrBadResponse),
		errors.New("connection reset by peer"),
	}
	for _, err := range errs {
		if got := Classify(answerOf(liasmart.Result{}, err)); got != Retry {
			t.Errorf("Classify(err %v) = %s, want retry", err, got)
		}
	}
}

// answerOf is CTrack's answer as its client gives it to the worker.
func answerOf(res liasmart.Result, err error) confirm.Answer {
	a, _ := liasmart.Answer(res, err)
	return a
}

func TestBackoffStaysWithinBounds(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: time.Second, Max: 10 * time.Minute}
	lo := Backoff{Base: b.Base, Max: b.Max, Rand: func(int64) int64 { return 0 }}
	hi := Backoff{Base: b.Base, Max: b.Max, Rand: func(n int64) int64 { return n - 1 }}
	ceiling := b.Base
	for n := 1; n <= 80; n++ {
		if n > 1 {
			ceiling = min(b.Max, 2*ceiling)
		}
		if got := lo.Delay(n); got != b.Base {
			t.Errorf("Delay(%d) with rand 0 = %s, want base %s", n, got, b.Base)
		}
		if got := hi.Delay(n); got != ceiling {
			t.Errorf("Delay(%d) with rand max = %s, want %s", n, got, ceiling)
		}
		for range 20 {
			if d := b.Delay(n); d < b.Base || d > ceiling {
				t.Fatalf("Delay(%d) = %s outside [%s, %s]", n, d, b.Base, ceiling)
			}
		}
	}
}
