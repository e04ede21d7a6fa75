// Package asyncapitest holds NATS messages to relay's AsyncAPI document
// (bus.AsyncAPI): a test hands it every message it receives, and the
// message must travel on a channel the document names, with headers and a
// payload its schemas accept.
package asyncapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"relay/internal/bus"
)

// ErrNoChannel means no channel of the document has an address that
// matches the subject.
var ErrNoChannel = errors.New("subject is in no channel of the AsyncAPI document")

const docURL = "urn:relay:asyncapi.json"

type message struct {
	name    string
	headers *jsonschema.Schema
	payload *jsonschema.Schema
}

type channel struct {
	name     string
	address  *regexp.Regexp
	params   []string
	enums    map[string][]string
	messages []message
}

var (
	loadOnce sync.Once
	channels []channel
	loadErr  error
)

type ref struct {
	Ref string `json:"$ref"`
}

var paramRE = regexp.MustCompile(`\{([A-Za-z0-9_]+)\}`)

func load() ([]channel, error) {
	raw := bus.AsyncAPI()
	var doc struct {
		Channels map[string]struct {
			Address    string         `json:"address"`
			Parameters map[string]ref `json:"parameters"`
			Messages   map[string]ref `json:"messages"`
		} `json:"channels"`
		Components struct {
			Parameters map[string]struct {
				Enum []string `json:"enum"`
			} `json:"parameters"`
			Messages map[string]struct {
				Headers *ref `json:"headers"`
				Payload *ref `json:"payload"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("parse the AsyncAPI document: %w", err)
	}
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("parse the AsyncAPI document: %w", err)
	}
	c := jsonschema.NewCompiler()
	// AsyncAPI's schema format is a superset of JSON Schema draft 07.
	c.DefaultDraft(jsonschema.Draft7)
	c.AssertFormat()
	if err := c.AddResource(docURL, parsed); err != nil {
		return nil, fmt.Errorf("load the AsyncAPI document: %w", err)
	}
	compile := func(r *ref) (*jsonschema.Schema, error) {
		if r == nil || !strings.HasPrefix(r.Ref, "#/") {
			return nil, fmt.Errorf("schema reference %v is not local", r)
		}
		return c.Compile(docURL + r.Ref)
	}
	var out []channel
	for name, ch := range doc.Channels {
		if ch.Address == "" {
			return nil, fmt.Errorf("channel %s has no address", name)
		}
		cc := channel{name: name, enums: map[string][]string{}}
		pattern := "^"
		last := 0
		for _, loc := range paramRE.FindAllStringSubmatchIndex(ch.Address, -1) {
			pattern += regexp.QuoteMeta(ch.Address[last:loc[0]]) + `([^.]+)`
			param := ch.Address[loc[2]:loc[3]]
			p, ok := ch.Parameters[param]
			if !ok {
				return nil, fmt.Errorf("channel %s: parameter %s is not declared", name, param)
			}
			cc.params = append(cc.params, param)
			if def, ok := doc.Components.Parameters[strings.TrimPrefix(p.Ref, "#/components/parameters/")]; ok {
				cc.enums[param] = def.Enum
			}
			last = loc[1]
		}
		pattern += regexp.QuoteMeta(ch.Address[last:]) + "$"
		cc.address = regexp.MustCompile(pattern)
		for mname, m := range ch.Messages {
			def, ok := doc.Components.Messages[strings.TrimPrefix(m.Ref, "#/components/messages/")]
			if !ok {
				return nil, fmt.Errorf("channel %s: message %s: %s is not a component", name, mname, m.Ref)
			}
			h, err := compile(def.Headers)
			if err != nil {
				return nil, fmt.Errorf("channel %s: message %s headers: %w", name, mname, err)
			}
			pl, err := compile(def.Payload)
			if err != nil {
				return nil, fmt.Errorf("channel %s: message %s payload: %w", name, mname, err)
			}
			cc.messages = append(cc.messages, message{name: mname, headers: h, payload: pl})
		}
		if len(cc.messages) == 0 {
			return nil, fmt.Errorf("channel %s has no messages", name)
		}
		out = append(out, cc)
	}
	return out, nil
}

// Check validates one message: its subject must match the address of a
// channel (parameters within their enums), and one of that channel's
// messages must accept its headers and payload. A subject no channel
// names is ErrNoChannel.
func Check(subject string, header nats.Header, payload []byte) error {
	loadOnce.Do(func() { channels, loadErr = load() })
	if loadErr != nil {
		return loadErr
	}
	for _, ch := range channels {
		m := ch.address.FindStringSubmatch(subject)
		if m == nil {
			continue
		}
		for i, param := range ch.params {
			if enum := ch.enums[param]; len(enum) > 0 && !slices.Contains(enum, m[i+1]) {
				return fmt.Errorf("subject %s: channel %s: %s %q is not one of %v", subject, ch.name, param, m[i+1], enum)
			}
		}
		// NATS headers may repeat; the document describes the first value.
		hdr := map[string]any{}
		for k, v := range header {
			if len(v) > 0 {
				hdr[k] = v[0]
			}
		}
		body, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("subject %s: payload is not JSON: %w", subject, err)
		}
		var errs []error
		for _, msg := range ch.messages {
			if err := msg.headers.Validate(hdr); err != nil {
				errs = append(errs, fmt.Errorf("message %s headers: %w", msg.name, err))
				continue
			}
			if err := msg.payload.Validate(body); err != nil {
				errs = append(errs, fmt.Errorf("message %s payload: %w", msg.name, err))
				continue
			}
			return nil
		}
		return fmt.Errorf("subject %s: channel %s: %w", subject, ch.name, errors.Join(errs...))
	}
	return fmt.Errorf("%s: %w", subject, ErrNoChannel)
}

// Validate fails t when msg does not conform to the AsyncAPI document.
func Validate(t testing.TB, msg *nats.Msg) {
	t.Helper()
	if err := Check(msg.Subject, msg.Header, msg.Data); err != nil {
		t.Errorf("AsyncAPI: %v\npayload: %s", err, msg.Data)
	}
}

// ValidateStored fails t for each stream message that does not conform to
// the AsyncAPI document.
func ValidateStored(t testing.TB, msgs ...*jetstream.RawStreamMsg) {
	t.Helper()
	for _, m := range msgs {
		if err := Check(m.Subject, m.Header, m.Data); err != nil {
			t.Errorf("AsyncAPI: %v\npayload: %s", err, m.Data)
		}
	}
}
