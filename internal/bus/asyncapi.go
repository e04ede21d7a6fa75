package bus

import _ "embed"

// asyncAPIDocument is the AsyncAPI 3.0 description of every subject relay
// publishes or consumes, their payloads and headers. The package tests of
// every publisher validate the messages they see against it
// (bus/asyncapitest), so a payload that drifts from it fails a test.
//
//go:embed asyncapi.json
var asyncAPIDocument []byte

// AsyncAPI returns the AsyncAPI 3.0 document served at GET /asyncapi.json.
// The caller must not modify it.
func AsyncAPI() []byte { return asyncAPIDocument }
