package inbound

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// Problem is an RFC 9457 problem detail. Every error relay answers, the
// framework's own included, is one of these: the mapping from failures to
// statuses lives here and nowhere else.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Errors names each invalid field of a 422.
	Errors []FieldError `json:"errors,omitempty"`

	retryAfter int
	headers    map[string]string
}

// FieldError is one failed validation.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string { return p.Title + ": " + p.Detail }

const problemBase = "urn:relay:problem:"

func problem(status int, slug, title, detail string) *Problem {
	return &Problem{Type: problemBase + slug, Title: title, Status: status, Detail: detail}
}

func errMalformed(detail string) *Problem {
	return problem(fiber.StatusBadRequest, "malformed-json", "Malformed JSON", detail)
}

func errValidation(errs []FieldError) *Problem {
	p := problem(fiber.StatusUnprocessableEntity, "validation", "Validation failed", "")
	p.Errors = errs
	if len(errs) > 0 {
		p.Detail = errs[0].Field + ": " + errs[0].Detail
	}
	return p
}

func errUnauthorized(detail string) *Problem {
	p := problem(fiber.StatusUnauthorized, "unauthorized", "Unauthorized", detail)
	p.headers = map[string]string{"WWW-Authenticate": `Bearer realm="relay"`}
	return p
}

func errTooLarge(limit int) *Problem {
	return problem(fiber.StatusRequestEntityTooLarge, "body-too-large", "Request body too large",
		"the body exceeds "+strconv.Itoa(limit)+" bytes")
}

func errUnsupportedMedia(got string) *Problem {
	if got == "" {
		got = "none"
	}
	return problem(fiber.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
		"Content-Type must be application/json, got "+got)
}

func errUnavailable(detail string) *Problem {
	p := problem(fiber.StatusServiceUnavailable, "unavailable", "Service unavailable", detail)
	p.retryAfter = 1
	return p
}

// errorHandler renders every error as problem+json. Errors that are not
// problems come from the framework (unknown route, wrong method, limits)
// or are bugs; a bug answers 500 without leaking its text.
func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var p *Problem
	var fe *fiber.Error
	var pe *panicked
	switch {
	case errors.As(err, &p):
	case errors.As(err, &fe):
		p = fiberProblem(fe)
	case errors.As(err, &pe):
		// Copies: a log handler may keep the record past the request,
		// and fiber's strings share buffers fasthttp reuses.
		s.log.Error("panic serving a request; answered 500", "path", strings.Clone(c.Path()), "method", strings.Clone(c.Method()),
			"panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
		// Whatever the handler had set before it panicked goes.
		c.Response().Reset()
		p = problem(fiber.StatusInternalServerError, "internal", "Internal error", "")
	default:
		s.log.Error("unhandled error", "path", strings.Clone(c.Path()), "method", strings.Clone(c.Method()), "err", err)
		p = problem(fiber.StatusInternalServerError, "internal", "Internal error", "")
	}
	return writeProblem(c, p)
}

func fiberProblem(fe *fiber.Error) *Problem {
	switch fe.Code {
	case fiber.StatusNotFound:
		return problem(fe.Code, "not-found", "Not found", "no such route")
	case fiber.StatusMethodNotAllowed:
		return problem(fe.Code, "method-not-allowed", "Method not allowed", "")
	case fiber.StatusRequestEntityTooLarge:
		return problem(fe.Code, "body-too-large", "Request body too large", "the body exceeds the limit")
	case fiber.StatusRequestHeaderFieldsTooLarge:
		return problem(fe.Code, "headers-too-large", "Request headers too large", "")
	case fiber.StatusRequestTimeout:
		return problem(fe.Code, "timeout", "Request timeout", "the request was not received in time")
	case fiber.StatusUnsupportedMediaType:
		return errUnsupportedMedia("")
	}
	if fe.Code >= 400 && fe.Code < 500 {
		return problem(fe.Code, "bad-request", "Bad request", fe.Message)
	}
	return problem(fe.Code, "error", fiber.ErrInternalServerError.Message, "")
}

func writeProblem(c *fiber.Ctx, p *Problem) error {
	for k, v := range p.headers {
		c.Set(k, v)
	}
	if p.retryAfter > 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(p.retryAfter))
	}
	body, err := jsonMarshal(p)
	if err != nil {
		return err
	}
	c.Status(p.Status)
	c.Set(fiber.HeaderContentType, "application/problem+json")
	return c.Send(body)
}
