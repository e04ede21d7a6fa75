package confirmtest

import (
	"fmt"
	"maps"
	"sync"
)

// Ledger is what a vendor's fake keeps of the calls it receives, keyed by
// message id: the answers scripted for the next calls (of the fake's own
// type A), the calls counted, those in flight together, and what broke
// the vendor's documented format. A fake holds one and adds only its
// vendor's checks and words. The zero Ledger is ready; it is safe for
// concurrent use.
type Ledger[A any] struct {
	mu       sync.Mutex
	next     map[string][]A
	calls    map[string]int
	inFlight map[string]int
	overlaps map[string]int
	problems []string
}

// Queue makes a the answer to the next call for id that finds no answer
// queued before it.
func (l *Ledger[A]) Queue(id string, a A) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.next == nil {
		l.next = map[string][]A{}
	}
	l.next[id] = append(l.next[id], a)
}

// Begin records a call for id as it arrives: it counts it, holds it in
// flight until End, notes an overlap with another call for id still in
// flight, and returns the answer queued for it (ok false for none). The
// fake calls End when it has answered, or given up.
func (l *Ledger[A]) Begin(id string) (a A, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls == nil {
		l.calls, l.inFlight, l.overlaps = map[string]int{}, map[string]int{}, map[string]int{}
	}
	l.calls[id]++
	l.inFlight[id]++
	if n := l.inFlight[id]; n > 1 {
		l.overlaps[id] = max(l.overlaps[id], n)
	}
	if q := l.next[id]; len(q) > 0 {
		a, ok, l.next[id] = q[0], true, q[1:]
	}
	return a, ok
}

// End takes a call for id that Begin recorded out of flight.
func (l *Ledger[A]) End(id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inFlight[id]--; l.inFlight[id] <= 0 {
		delete(l.inFlight, id)
	}
}

// Calls counts the calls for id that Begin recorded.
func (l *Ledger[A]) Calls(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[id]
}

// InFlight is how many calls for id are between Begin and End now.
func (l *Ledger[A]) InFlight(id string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inFlight[id]
}

// Overlaps returns the ids that ever had two or more calls in flight at
// once, with the most seen together. relay claims an event before calling
// its vendor, so for a fake behind relay it stays empty.
func (l *Ledger[A]) Overlaps() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := maps.Clone(l.overlaps)
	if m == nil {
		m = map[string]int{}
	}
	return m
}

// Problem records one way a request broke the vendor's documented format.
func (l *Ledger[A]) Problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

// Problems lists what Problem recorded, in order.
func (l *Ledger[A]) Problems() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.problems...)
}
