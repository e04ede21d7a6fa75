package main

import "context"

// openOps wires the operator features (admin API service) into m.
func (m *Main) openOps(ctx context.Context) error { return nil }
