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

const statusUsage = "usage: relay status [--json] | relay status <event id | vendor:message_id>"

// cmdStatus prints an event's state and every vendor call, exactly as GET
// /admin/v1/attempts/{id} answers; the argument is an event id or
// vendor:message_id. Without one it prints the vendors' summary
// (cmdVendorsSummary). It reads PostgreSQL directly, so it works while
// relay is down.
func cmdStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	// One argument that is not a flag is an event, whatever it looks like:
	// a message id may begin with "-".
	if len(args) != 1 || args[0] == "--json" || args[0] == "-json" {
		return cmdVendorsSummary(ctx, args, getenv, stdout, stderr)
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
