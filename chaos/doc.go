// Package chaos is relay's chaos suite: it runs relay as real processes
// (built from ./cmd/relay) against a private PostgreSQL cluster, a real
// nats-server and a fake Liasmart CTrack, keeps a load generator posting
// unique and duplicate events the whole time, and then breaks things: kill -9
// of relay, of one replica and then the other, restarts and outages of
// nats-server and PostgreSQL, a misbehaving vendor, kill -9 of the node
// leading the registrations stream on a 3-node NATS cluster, and several
// confirm vendors at once (Twilio, Vonage and Plivo fakes beside CTrack),
// one paused for credentials, one down and one rate-limited, while the
// healthy one's events must not wait for theirs.
//
// Every scenario ends with the same invariant: each event that got a 202 (or
// a 200 duplicate) ends confirmed or already_confirmed in PostgreSQL, the
// vendor saw exactly one 1000 per message_id (one success, for the vendors
// that answer a repeat like the first), every vendor's JetStream consumer
// is drained, no fake saw two calls in flight for one id, no relay log
// holds a panic or a secret, and every error text PostgreSQL recorded is
// readable (valid UTF-8, no control character, bounded, no secret),
// whatever the vendor sent.
//
// The package holds tests only (linux: the processes are started with a
// parent-death signal so that none outlives the test binary).
//
//	go test ./chaos                      # short mode: each scenario reduced, ~2.5 min
//	make chaos                           # full mode: -chaos.full (or RELAY_CHAOS=full)
//	go test ./chaos -args -chaos.seed=N  # replay the random instants of a run
package chaos
