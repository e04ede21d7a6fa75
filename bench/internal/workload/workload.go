// Package workload builds the events every run of the benchmark sends, so
// that relay, the baselines and the raw publish all move the same bytes.
package workload

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"relay/internal/bus"
)

// OccurredAt is the occurred_at of an event posted now: the current
// second, as a registration that just happened carries. (relay asks
// PostgreSQL about events older than its duplicate window, as a late
// repeat looks; a fixed old date would make every event one.)
func OccurredAt() string {
	now := time.Now().Unix()
	if c := occurred.Load(); c != nil && c.sec == now {
		return c.text
	}
	c := &occurredSecond{sec: now, text: time.Unix(now, 0).UTC().Format(time.RFC3339)}
	occurred.Store(c)
	return c.text
}

type occurredSecond struct {
	sec  int64
	text string
}

var occurred atomic.Pointer[occurredSecond]

// Metadata is the fixed metadata object of every event.
const Metadata = `{"app":"signup","campaign":"bench"}`

// MessageID is the message_id of event n of a run with prefix.
func MessageID(buf []byte, prefix string, n int64) []byte {
	buf = append(buf, prefix...)
	buf = append(buf, '-')
	return strconv.AppendInt(buf, n, 10)
}

// Event appends the HTTP body of one event (about 140 bytes).
func Event(buf []byte, prefix string, n int64) []byte {
	return VendorEvent(buf, Liasmart, prefix, n)
}

// Vendor is a confirm vendor events are posted for, with its message ids
// in the format its client accepts.
type Vendor struct {
	Name string
	// ID appends the message_id of event n of a run with prefix.
	ID func(buf []byte, prefix string, n int64) []byte
}

// The vendors the benchmark posts events for. A message id off a
// vendor's documented pattern would be failed without a call, so each
// has its own format; the prefix's hash keeps runs apart.
var (
	Liasmart = Vendor{Name: "liasmart", ID: MessageID}
	// Twilio's MessageSid: SM and 32 hex digits.
	Twilio = Vendor{Name: "twilio", ID: func(buf []byte, prefix string, n int64) []byte {
		return fmt.Appendf(buf, "SM%08x%024x", prefixHash(prefix), n)
	}}
	// Vonage's message-id: 16 upper-case hex digits, as its send API
	// returns them.
	Vonage = Vendor{Name: "vonage", ID: func(buf []byte, prefix string, n int64) []byte {
		return fmt.Appendf(buf, "%04X%012X", prefixHash(prefix)&0xffff, n)
	}}
	// Plivo's message_uuid: a version 4 UUID.
	Plivo = Vendor{Name: "plivo", ID: func(buf []byte, prefix string, n int64) []byte {
		return fmt.Appendf(buf, "%08x-0000-4000-8000-%012x", prefixHash(prefix), n)
	}}
)

func prefixHash(prefix string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(prefix))
	return h.Sum32()
}

// VendorEvent appends the HTTP body of event n for vendor v.
func VendorEvent(buf []byte, v Vendor, prefix string, n int64) []byte {
	buf = append(buf, `{"vendor":"`...)
	buf = append(buf, v.Name...)
	buf = append(buf, `","message_id":"`...)
	buf = v.ID(buf, prefix, n)
	buf = append(buf, `","status":true,"occurred_at":"`...)
	buf = append(buf, OccurredAt()...)
	buf = append(buf, `","metadata":`+Metadata+`}`...)
	return buf
}

// VendorOf is the vendor of event n when events are spread round-robin
// over vendors, as MixedBatch spreads them.
func VendorOf(vendors []Vendor, n int64) Vendor {
	return vendors[n%int64(len(vendors))]
}

// MixedBatch appends a batch body numbered as Batch's, event n going to
// VendorOf(vendors, n): every vendor's share is queued from the start.
func MixedBatch(buf []byte, vendors []Vendor, prefix string, n int64, size int) []byte {
	buf = append(buf, `{"events":[`...)
	for i := range size {
		if i > 0 {
			buf = append(buf, ',')
		}
		k := n*int64(size) + int64(i)
		buf = VendorEvent(buf, VendorOf(vendors, k), prefix, k)
	}
	return append(buf, "]}"...)
}

// Batch appends a batch body of size events, numbered n*size .. n*size+size-1.
func Batch(buf []byte, prefix string, n int64, size int) []byte {
	buf = append(buf, `{"events":[`...)
	for i := range size {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = Event(buf, prefix, n*int64(size)+int64(i))
	}
	return append(buf, "]}"...)
}

// EventID is relay's id of a liasmart message (inbound.EventID, repeated
// here so that the harness builds while inbound is being edited).
func EventID(messageID string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:liasmart:"+messageID))
}

// BusPayload is the JetStream payload relay's ingest publishes for event
// n, with its Nats-Msg-Id.
func BusPayload(prefix string, n int64) (data []byte, msgID string) {
	mid := string(MessageID(nil, prefix, n))
	id := EventID(mid).String()
	at, _ := time.Parse(time.RFC3339, OccurredAt())
	data, _ = json.Marshal(bus.Registration{
		ID: id, Vendor: "liasmart", MessageID: mid, OccurredAt: &at,
		Metadata: json.RawMessage(Metadata), APIKey: "bench", ReceivedAt: time.Now().UTC(),
	})
	return data, id
}
