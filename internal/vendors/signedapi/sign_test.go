package signedapi_test

import (
	"testing"

	"relay/internal/vendors/signedapi"
)

// The seeds show a request's Api-Key, Timestamp and Sign but never the
// secret behind that Sign, so the vectors are hand-computed with md5sum:
//
//	printf '%s' 'bDqJFiq9your api secret1630468800' | md5sum
//
// using the seeds' Api-Key and Timestamp and their samples' placeholder
// secret.
func TestSign(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		key, secret string
		ts          int64
		want        string
	}{
		{"bDqJFiq9", "your api secret", 1630468800, "531067bc4825260bbde68a5fa9b24188"},
		{"bDqJFiq9", "your api secret", 1630468801, "f8fb1847b7bf7aba747ed5f2df9a12ab"},
		{"a", "b", 0, "449f2a4c69b93a105441494833db68e5"},
	} {
		if got := signedapi.Sign(tc.key, tc.secret, tc.ts); got != tc.want {
			t.Errorf("Sign(%q, %q, %d) = %s, want %s", tc.key, tc.secret, tc.ts, got, tc.want)
		}
	}
}
