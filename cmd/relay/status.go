package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"relay/internal/inbound"
	"relay/internal/ops"
)

// cmdStatus prints an event's state and every vendor call, exactly as GET
// /admin/v1/attempts/{id} answers; the argument is an event id or
// vendor:message_id. It reads PostgreSQL directly, so it works while relay
// is down.
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
	ea, err := ops.New(ops.Config{Store: st}).Attempts(ctx, id)
	if errors.Is(err, ops.ErrNotFound) {
		return fmt.Errorf("event %s is not recorded (yet)", id)
	}
	if err != nil {
		return err
	}
	return printJSON(stdout, inbound.AttemptsViewOf(ea))
}

func splitVendorMessage(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return s[:i], s[i+1:], i > 0 && i < len(s)-1
		}
	}
	return "", "", false
}
