package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"relay/internal/inbound/console"
	"relay/internal/ops"
)

// AdminService is what the operator routes need: listings, counts, an
// event's vendor calls, vendor-call trends, replays and vendor resume. *ops.Service is the
// implementation; inbound only translates HTTP to it and its errors back.
type AdminService interface {
	ListEvents(ctx context.Context, q ops.Query) (ops.Page, error)
	Stats(ctx context.Context) (ops.Stats, error)
	Attempts(ctx context.Context, id uuid.UUID) (ops.EventAttempts, error)
	Trends(ctx context.Context, minutes int) (ops.Trends, error)
	Replay(ctx context.Context, req ops.ReplayRequest, meta ops.ReplayMeta) (ops.ReplayResult, error)
	Replays(ctx context.Context, limit int) ([]ops.ReplayRecord, error)
	ResumeVendor(ctx context.Context, vendor string) (ops.ResumeResult, error)
}

// SetAdmin installs the admin service after New (the process builds it
// once the server exists). It must be called before the server serves.
func (s *Server) SetAdmin(a AdminService) { s.cfg.Admin = a }

// maxReplayBody bounds a replay request: 1,000 ids fit in 40 KiB.
const maxReplayBody = 256 << 10

// adminRoutes registers /admin/v1 routes; r already requires the admin
// token. The console's static files are registered on the app itself:
// they are public (the data they show needs the token).
func (s *Server) adminRoutes(r fiber.Router) {
	r.Get("/registrations", s.adminList)
	r.Get("/stats", s.adminStats)
	r.Get("/attempts/:id", s.adminAttempts)
	r.Get("/trends", s.adminTrends)
	r.Post("/replays", s.adminReplay)
	r.Get("/replays", s.adminReplays)
	r.Post("/vendors/:vendor/resume", s.adminResume)
	s.consoleRoutes()
}

// consoleRoutes serves the ops console at /admin/ and its files under
// /admin/assets/. With the admin API disabled the console is too (404).
func (s *Server) consoleRoutes() {
	s.app.Get("/admin/", s.consoleIndex)
	s.app.Get("/admin/assets/*", s.consoleAsset)
}

func (s *Server) consoleEnabled() *Problem {
	if len(s.adminDigest) == 0 {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "the admin console is disabled (RELAY_ADMIN_TOKEN is empty)")
	}
	return nil
}

// consoleHeaders keep the console to its own files: no inline script, no
// third-party origin, no framing, no referrer leaking the page's address.
func consoleHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Referrer-Policy", "no-referrer")
}

func (s *Server) consoleIndex(c *fiber.Ctx) error {
	if p := s.consoleEnabled(); p != nil {
		return p
	}
	consoleHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(console.Index())
}

func (s *Server) consoleAsset(c *fiber.Ctx) error {
	if p := s.consoleEnabled(); p != nil {
		return p
	}
	body, ctype, ok := console.Asset(c.Params("*"))
	if !ok {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no such console file")
	}
	consoleHeaders(c)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, ctype)
	return c.Send(body)
}

// admin returns the service, or a 503 when this process has none (an
// ingest process without the operations wiring).
func (s *Server) admin() (AdminService, *Problem) {
	if s.cfg.Admin == nil {
		return nil, errUnavailable("the admin service is not available in this process")
	}
	return s.cfg.Admin, nil
}

// adminError maps the operations' errors to problems, in this one place.
func (s *Server) adminError(c *fiber.Ctx, err error) error {
	var ve *ops.ValidationError
	switch {
	case errors.As(err, &ve):
		fields := make([]FieldError, len(ve.Errors))
		for i, fe := range ve.Errors {
			fields[i] = FieldError{Field: fe.Field, Detail: fe.Detail}
		}
		return errValidation(fields)
	case errors.Is(err, ops.ErrNotFound):
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no event with this id is recorded")
	case errors.Is(err, ops.ErrReplayInProgress):
		p := problem(fiber.StatusConflict, "replay-in-progress", "Replay in progress",
			"a replay with this Idempotency-Key is still running; retry the same request later for its answer")
		p.retryAfter = 1
		return p
	case errors.Is(err, ops.ErrKeyReused):
		return errValidation([]FieldError{{Field: "Idempotency-Key", Detail: "was used for a different request; use a new key"}})
	}
	s.log.Warn("admin request failed", "path", strings.Clone(c.Path()), "method", strings.Clone(c.Method()), "err", err)
	return errUnavailable("the database or the event bus is unavailable; retry (a replay with the same Idempotency-Key resumes where it stopped)")
}

// adminCtx bounds a read; replays run longer and take the request's own.
func adminCtx(c *fiber.Ctx) (context.Context, context.CancelFunc) {
	return context.WithTimeout(c.UserContext(), 15*time.Second)
}

type listAnswer struct {
	Items      []EventView `json:"items"`
	NextCursor string      `json:"next_cursor"`
}

func (s *Server) adminList(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	// fiber's strings share buffers fasthttp reuses after the request:
	// what goes to another package is copied, whatever it does with it.
	q, err := ops.ParseQuery(func(k string) string { return strings.Clone(c.Query(k)) }, s.cfg.Now())
	if err != nil {
		return s.adminError(c, err)
	}
	ctx, cancel := adminCtx(c)
	defer cancel()
	page, err := a.ListEvents(ctx, q)
	if err != nil {
		return s.adminError(c, err)
	}
	out := listAnswer{Items: make([]EventView, len(page.Events)), NextCursor: page.NextCursor}
	for i, e := range page.Events {
		out.Items[i] = ViewOf(e)
	}
	return c.JSON(out)
}

func (s *Server) adminStats(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	ctx, cancel := adminCtx(c)
	defer cancel()
	st, err := a.Stats(ctx)
	if err != nil {
		return s.adminError(c, err)
	}
	return c.JSON(st)
}

// adminTrends answers the vendor calls per minute of the last minutes
// (1-1440, default 60).
func (s *Server) adminTrends(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	minutes, err := ops.ParseTrendMinutes(c.Query("minutes"))
	if err != nil {
		return s.adminError(c, err)
	}
	ctx, cancel := adminCtx(c)
	defer cancel()
	tr, err := a.Trends(ctx, minutes)
	if err != nil {
		return s.adminError(c, err)
	}
	return c.JSON(tr)
}

// AttemptsView is the answer to GET /admin/v1/attempts/{id}, and what
// `relay status` prints: operators see one form wherever they look.
type AttemptsView struct {
	Event    EventView         `json:"event"`
	Attempts []ops.AttemptView `json:"attempts"`
}

// AttemptsViewOf converts an event and its calls to their public form.
func AttemptsViewOf(ea ops.EventAttempts) AttemptsView {
	return AttemptsView{Event: ViewOf(ea.Event), Attempts: ea.Attempts}
}

func (s *Server) adminAttempts(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	id, ok := parseEventRef(c.Params("id"))
	if !ok {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "give an event id (a UUID) or vendor:message_id")
	}
	ctx, cancel := adminCtx(c)
	defer cancel()
	ea, err := a.Attempts(ctx, id)
	if err != nil {
		return s.adminError(c, err)
	}
	return c.JSON(AttemptsViewOf(ea))
}

// parseEventRef reads an event id, or vendor:message_id (the id is
// computed from it, as clients do).
func parseEventRef(s string) (uuid.UUID, bool) {
	if id, err := uuid.Parse(s); err == nil {
		return id, true
	}
	vendor, msg, ok := strings.Cut(s, ":")
	if !ok || vendor == "" || msg == "" {
		return uuid.Nil, false
	}
	return EventID(vendor, msg), true
}

func (s *Server) adminReplay(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	body := c.Request().Body()
	if len(body) > maxReplayBody {
		return errTooLarge(maxReplayBody)
	}
	if p := requireJSON(c); p != nil {
		return p
	}
	if _, p := decodeObject(body); p != nil {
		return p
	}
	var req ops.ReplayRequest
	if err := json.Unmarshal(body, &req); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return errValidation([]FieldError{{Field: typeErr.Field, Detail: "must not be a JSON " + typeErr.Value}})
		}
		return errValidation([]FieldError{{Field: "filter.state", Detail: err.Error()}})
	}
	meta := ops.ReplayMeta{Actor: strings.Clone(c.Get("X-Relay-Actor")), IdempotencyKey: strings.Clone(c.Get("Idempotency-Key"))}
	res, err := a.Replay(c.UserContext(), req, meta)
	if err != nil {
		return s.adminError(c, err)
	}
	if res.Repeated {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.JSON(res)
}

func (s *Server) adminReplays(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	limit := 50
	if q := c.Query("limit"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 || n > ops.MaxLimit {
			return errValidation([]FieldError{{Field: "limit", Detail: "must be an integer from 1 to " + strconv.Itoa(ops.MaxLimit)}})
		}
		limit = n
	}
	ctx, cancel := adminCtx(c)
	defer cancel()
	recs, err := a.Replays(ctx, limit)
	if err != nil {
		return s.adminError(c, err)
	}
	return c.JSON(fiber.Map{"items": recs})
}

func (s *Server) adminResume(c *fiber.Ctx) error {
	a, p := s.admin()
	if p != nil {
		return p
	}
	res, err := a.ResumeVendor(c.UserContext(), strings.Clone(c.Params("vendor")))
	if err != nil {
		return s.adminError(c, err)
	}
	return c.JSON(res)
}
