package inbound

import "github.com/gofiber/fiber/v2"

// MessageService tracks sent messages for delivery reports. Filled in by
// the delivery-report work.
type MessageService interface{}

// messageRoutes registers /v1/messages routes; r already requires an
// ingest key.
func (s *Server) messageRoutes(r fiber.Router) {}
