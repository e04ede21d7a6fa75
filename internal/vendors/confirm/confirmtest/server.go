package confirmtest

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// Server is a fake served on a local port: an httptest.Server whose Close
// also cuts the calls still open.
type Server struct{ *httptest.Server }

// Serve starts h on a local port; Close stops it.
func Serve(h http.Handler) *Server { return &Server{httptest.NewServer(h)} }

// ServeTest starts h on a local port for t's lifetime.
func ServeTest(t testing.TB, h http.Handler) *Server {
	t.Helper()
	s := Serve(h)
	t.Cleanup(s.Close)
	return s
}

// ServeStrict starts f on a local port for t's lifetime and, when t ends,
// fails it with every problem f found in the requests it received, each
// after prefix ("fake Vonage").
func ServeStrict(t testing.TB, f interface {
	http.Handler
	Problems() []string
}, prefix string) *Server {
	t.Helper()
	s := Serve(f)
	t.Cleanup(func() {
		s.Close()
		for _, p := range f.Problems() {
			t.Errorf("%s: %s", prefix, p)
		}
	})
	return s
}

// Close stops the server. It cuts the calls still open first: a fake
// holding an answer back (Raw's Delay and Drip) would otherwise keep
// Close waiting until it ends.
func (s *Server) Close() {
	s.CloseClientConnections()
	s.Server.Close()
}
