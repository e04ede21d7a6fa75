package inbound_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"relay/internal/bus"
	"relay/internal/inbound"
	"relay/internal/inbound/openapitest"
)

// TestOpenAPIDocumentLoads: the embedded document is valid OpenAPI that
// kin-openapi loads.
func TestOpenAPIDocumentLoads(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load(inbound.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
}

// notYetServed lists documented operations not served yet: none. A
// served route missing from the document always fails.
var notYetServed = map[string]bool{}

// TestOpenAPICoversEveryRoute compares fiber's routes with the
// document's operations, both ways.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	t.Parallel()
	doc, err := openapitest.Load(inbound.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+templateOf(path)] = true
		}
	}
	srv := inbound.New(inbound.Config{Vendors: []string{"liasmart"}, AdminToken: "x", Logger: quietLogger()}, nil, nil)
	served := map[string]bool{}
	for _, r := range srv.App().GetRoutes(true) {
		// fiber registers a HEAD twin of every GET; the document
		// describes the GET.
		if r.Method == http.MethodHead {
			continue
		}
		served[r.Method+" "+templateOf(fiberPath(r.Path))] = true
	}
	if len(served) < 10 {
		t.Fatalf("only %d routes served: %v", len(served), served)
	}
	for op := range served {
		if !documented[op] {
			t.Errorf("%s is served but not in openapi.json", op)
		}
	}
	for op := range documented {
		if !served[op] && !notYetServed[op] {
			t.Errorf("%s is in openapi.json but not served", op)
		}
	}
	for op := range notYetServed {
		if !documented[op] {
			t.Errorf("allow-listed %s is not in openapi.json", op)
		}
		if served[op] {
			t.Errorf("%s is served now: remove it from notYetServed", op)
		}
	}
}

// fiberPath writes fiber's parameters (":id", "*") as OpenAPI's.
func fiberPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, ":") || s == "*" {
			parts[i] = "{" + strings.TrimPrefix(s, ":") + "}"
		}
	}
	return strings.Join(parts, "/")
}

// templateOf blanks parameter names: /a/{id} and /a/{ref} are one route.
func templateOf(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			parts[i] = "{}"
		}
	}
	return strings.Join(parts, "/")
}

// TestOpenAPIServed: GET /openapi.json needs no key and answers the
// embedded document as application/json.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	resp, body := e.do(t, http.MethodGet, "/openapi.json", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, truncate(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(body, inbound.OpenAPI()) {
		t.Error("the answer is not the embedded document")
	}
	if _, err := openapitest.Load(body); err != nil {
		t.Error(err)
	}
}

// TestAsyncAPIServed: GET /asyncapi.json needs no key and answers the
// embedded AsyncAPI document as application/json.
func TestAsyncAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, nil)
	resp, body := e.do(t, http.MethodGet, "/asyncapi.json", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, truncate(body))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(body, bus.AsyncAPI()) {
		t.Error("the answer is not the embedded document")
	}
}
