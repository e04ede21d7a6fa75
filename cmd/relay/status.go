package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"relay/internal/inbound"
	"relay/internal/store"
)

// cmdStatus prints an event's state; the argument is an event id or
// vendor:message_id.
func cmdStatus(ctx context.Context, args []string, getenv func(string) string, stdout, _ io.Writer) error {
	if len(args) != 1 {
		return usageError{errors.New("usage: relay status <event id | vendor:message_id>")}
	}
	id, err := uuid.Parse(args[0])
	if err != nil {
		vendor, msgID, ok := splitVendorMessage(args[0])
		if !ok {
			return usageError{fmt.Errorf("%q is neither an event id nor vendor:message_id", args[0])}
		}
		id = inbound.EventID(vendor, msgID)
	}
	st, _, err := openCLIStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	e, err := st.Event(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("event %s is not recorded (yet)", id)
	}
	if err != nil {
		return err
	}
	attempts, err := st.Attempts(ctx, id)
	if err != nil {
		return err
	}
	out := struct {
		inbound.EventView
		History []store.Attempt `json:"history"`
	}{inbound.ViewOf(e), attempts}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func splitVendorMessage(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}
