// Package openapitest holds relay's HTTP tests to the OpenAPI document
// that internal/inbound serves: every request a test sends and every
// answer it gets go through kin-openapi's openapi3filter, so the document
// cannot drift from the code.
//
// Answers are always validated. Requests are validated only when the
// server accepted them (2xx): the bad-input tests send requests that break
// the document on purpose, and a 4xx is the server agreeing with it.
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"relay/internal/inbound"
)

// Load parses and validates an OpenAPI document.
func Load(data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("openapitest: loading the document: %w", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("openapitest: the document is invalid: %w", err)
	}
	return doc, nil
}

// Validator checks exchanges against one document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// New loads data and builds its router.
func New(data []byte) (*Validator, error) {
	doc, err := Load(data)
	if err != nil {
		return nil, err
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: routing the document: %w", err)
	}
	return &Validator{doc: doc, router: router}, nil
}

// Doc is the loaded document.
func (v *Validator) Doc() *openapi3.T { return v.doc }

var relayValidator = sync.OnceValues(func() (*Validator, error) { return New(inbound.OpenAPI()) })

// Relay is the validator of the document inbound serves; it fails t when
// the document does not load.
func Relay(t testing.TB) *Validator {
	t.Helper()
	v, err := relayValidator()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Check validates one exchange: req (whose body was reqBody; req.Body is
// not read) and the answer. It returns every mismatch found, or nil.
func (v *Validator) Check(req *http.Request, reqBody []byte, status int, header http.Header, respBody []byte) error {
	ctx := req.Context()
	route, params, err := v.findRoute(req)
	if err != nil {
		var re *routers.RouteError
		if !errors.As(err, &re) {
			return err
		}
		// No operation: the document cannot list the answer, which must
		// then be a problem: 404 (no route), 405 (another method of a
		// documented path), or 401 (a group's authentication runs before
		// fiber finds that nothing matches).
		allowed := []int{http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusUnauthorized, http.StatusInternalServerError}
		if encoded(req) {
			allowed = append(allowed, http.StatusUnsupportedMediaType)
		}
		return v.checkProblem(req, status, header, respBody, allowed)
	}
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusRequestHeaderFieldsTooLarge,
		status == http.StatusInternalServerError:
		// Answered by the HTTP server before routing, or for a bug, on
		// any path (info.description and components.responses say so).
		return v.checkProblem(req, status, header, respBody, []int{status})
	case status == http.StatusUnsupportedMediaType && encoded(req):
		// A Content-Encoding is refused on any path, before the route's
		// own checks (info.description says so).
		return v.checkProblem(req, status, header, respBody, []int{status})
	}
	reqInput := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: bearerPresent, MultiError: true},
	}
	var errs []error
	if status/100 == 2 {
		r := req.Clone(ctx)
		r.Body = io.NopCloser(bytes.NewReader(reqBody))
		r.ContentLength = int64(len(reqBody))
		in := *reqInput
		in.Request = r
		if err := openapi3filter.ValidateRequest(ctx, &in); err != nil {
			errs = append(errs, fmt.Errorf("request %s %s (answered %d) does not match the document: %w", req.Method, req.URL.RequestURI(), status, err))
		}
	}
	respInput := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: reqInput, Status: status, Header: header,
		Body:    io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(ctx, respInput); err != nil {
		errs = append(errs, fmt.Errorf("answer %d to %s %s does not match the document: %w; body %s", status, req.Method, req.URL.RequestURI(), err, clip(respBody)))
	}
	return errors.Join(errs...)
}

// findRoute routes req as fiber does: a trailing slash is optional.
func (v *Validator) findRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := v.router.FindRoute(req)
	if err == nil || !errors.Is(err, routers.ErrPathNotFound) {
		return route, params, err
	}
	alt := req.Clone(req.Context())
	u := *req.URL
	if p, ok := strings.CutSuffix(u.Path, "/"); ok {
		u.Path = p
	} else {
		u.Path += "/"
	}
	u.RawPath = ""
	alt.URL = &u
	if route2, params2, err2 := v.router.FindRoute(alt); err2 == nil {
		return route2, params2, nil
	}
	return route, params, err
}

// checkProblem validates an answer that no operation lists: an RFC 9457
// problem with one of the allowed statuses.
func (v *Validator) checkProblem(req *http.Request, status int, header http.Header, body []byte, allowed []int) error {
	ok := false
	for _, s := range allowed {
		ok = ok || s == status
	}
	if !ok {
		return fmt.Errorf("answer %d to %s %s: the document has no operation for it (allowed: %v); body %s",
			status, req.Method, req.URL.RequestURI(), allowed, clip(body))
	}
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("answer %d to %s %s: Content-Type %q, want application/problem+json", status, req.Method, req.URL.RequestURI(), ct)
	}
	schema := v.doc.Components.Schemas["Problem"]
	value, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("answer %d to %s %s: %w", status, req.Method, req.URL.RequestURI(), err)
	}
	if err := schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020()); err != nil {
		return fmt.Errorf("answer %d to %s %s is not a Problem: %w; body %s", status, req.Method, req.URL.RequestURI(), err, clip(body))
	}
	return nil
}

// encoded reports whether req declares a Content-Encoding other than
// identity, which relay refuses 415 on any path.
func encoded(req *http.Request) bool {
	for _, v := range req.Header.Values("Content-Encoding") {
		for coding := range strings.SplitSeq(v, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// bearerPresent checks the shape of the credential the security scheme
// names; whether the token is right is the server's business (it answers
// 401, which the document lists).
func bearerPresent(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	scheme, token, ok := strings.Cut(in.RequestValidationInput.Request.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return fmt.Errorf("no Authorization: Bearer credential for %s", in.SecuritySchemeName)
	}
	return nil
}

func clip(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + "..."
	}
	return string(b)
}
