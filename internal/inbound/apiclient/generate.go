// Package apiclient is a Go client of relay's HTTP API, generated from
// the OpenAPI document internal/inbound serves (GET /openapi.json) with
// oapi-codegen. It proves the document usable: the tests run the README's
// flow with it against a real server, and fail when client.gen.go is
// older than the document. Regenerate with `go generate ./internal/inbound/apiclient`.
package apiclient

//go:generate go tool oapi-codegen -config oapi-codegen.yaml -o client.gen.go ../openapi.json
