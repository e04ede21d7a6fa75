package inbound

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"

	"relay/internal/bus"
)

// openAPIDocument is the OpenAPI 3.1 description of every route this
// package serves. The tests validate every request and answer they make
// against it, and fail when a served route is missing from it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document served at GET /openapi.json.
// The caller must not modify it.
func OpenAPI() []byte { return openAPIDocument }

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(openAPIDocument)
}

// asyncAPI serves bus.AsyncAPI, the contract of the NATS subjects, next to
// the HTTP one so that subscribers find both in the same place.
func (s *Server) asyncAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	return c.Send(bus.AsyncAPI())
}
