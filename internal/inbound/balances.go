package inbound

import "github.com/gofiber/fiber/v2"

// BalanceService reads vendor balances. Filled in by the balance work.
type BalanceService interface{}

// balanceRoutes registers /admin/v1/balances; r already requires the
// admin token.
func (s *Server) balanceRoutes(r fiber.Router) {}
