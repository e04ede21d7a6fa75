package inbound

import "github.com/gofiber/fiber/v2"

// AdminService is what the operator routes need (replays, listings,
// attempts, vendor resume). Filled in by the operations work.
type AdminService interface{}

// adminRoutes registers /admin/v1 routes; r already requires the admin
// token.
func (s *Server) adminRoutes(r fiber.Router) {}
