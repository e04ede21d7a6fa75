package inbound

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"relay/internal/store"
)

// BalanceService reads the latest vendor balances (the store: the balance
// monitor keeps them there).
type BalanceService interface {
	// LatestBalances lists the latest reading per (vendor, kind).
	LatestBalances(ctx context.Context) ([]store.BalanceReading, error)
}

// SetBalanceService enables /admin/v1/balances with svc. Call it before
// the server serves.
func (s *Server) SetBalanceService(svc BalanceService) { s.cfg.Balances = svc }

// BalanceView is one reading in GET /admin/v1/balances.
type BalanceView struct {
	Vendor string `json:"vendor"`
	Kind   string `json:"kind"`
	// Value is an exact decimal string, null where the vendor says "not
	// allocated".
	Value     *string   `json:"value"`
	CheckedAt time.Time `json:"checked_at"`
	// BelowThreshold is the low-balance state (an alert was raised when
	// it turned true).
	BelowThreshold bool `json:"below_threshold"`
}

// balanceRoutes registers /admin/v1/balances; r already requires the
// admin token.
func (s *Server) balanceRoutes(r fiber.Router) {
	r.Get("/balances", s.getBalances)
}

func (s *Server) getBalances(c *fiber.Ctx) error {
	svc := s.cfg.Balances
	if svc == nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "balance monitoring is not enabled in this process")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	latest, err := svc.LatestBalances(ctx)
	if err != nil {
		s.log.Warn("reading balances", "err", err)
		return errUnavailable("the database is unavailable")
	}
	items := make([]BalanceView, len(latest))
	for i, b := range latest {
		items[i] = BalanceView{Vendor: b.Vendor, Kind: b.Kind, CheckedAt: b.CheckedAt.UTC(), BelowThreshold: b.Below}
		if b.Value != nil {
			v := b.Value.String()
			items[i].Value = &v
		}
	}
	return c.JSON(fiber.Map{"items": items})
}
