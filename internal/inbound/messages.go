package inbound

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	"relay/internal/store"
)

// MessageService tracks sent messages for delivery reports
// (monitor.Tracker).
type MessageService interface {
	// ReportVendors maps each vendor whose delivery reports relay polls
	// (configured, with a report API) to its default app id ("" for none).
	ReportVendors() map[string]string
	// TrackMessages registers msgs and reports, per item, whether it was
	// new (false: already tracked).
	TrackMessages(ctx context.Context, msgs []store.NewMessage) ([]bool, error)
	// Message reads a tracked message; store.ErrNotFound when unknown.
	Message(ctx context.Context, id uuid.UUID) (store.Message, error)
}

// SetMessageService enables /v1/messages with svc. Call it before the
// server serves.
func (s *Server) SetMessageService(svc MessageService) { s.cfg.Messages = svc }

// MaxBatchMessages bounds POST /v1/messages/batch.
const MaxBatchMessages = 1000

// TrackedMessageID is the deterministic id of a tracked message; clients
// can compute it, and a repeat gets the same id.
func TrackedMessageID(vendor, messageID string) uuid.UUID {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("urn:relay:message:"+vendor+":"+messageID))
}

// messageRoutes registers /v1/messages routes; r already requires an
// ingest key.
func (s *Server) messageRoutes(r fiber.Router) {
	r.Post("/messages", s.postMessage)
	r.Post("/messages/batch", s.postMessageBatch)
	r.Get("/messages/:id", s.getMessage)
}

func (s *Server) messages() (MessageService, *Problem) {
	if s.cfg.Messages == nil {
		return nil, problem(fiber.StatusNotFound, "not-found", "Not found", "delivery-report tracking is not enabled in this process")
	}
	return s.cfg.Messages, nil
}

// DecodeMessage validates one message to track: vendor (one of vendors,
// which maps report vendors to their default app id), message_id (as for
// registrations, and without commas, which the vendor's getReport uses
// as its separator), app_id (optional when the vendor has a default).
func DecodeMessage(body []byte, vendors map[string]string) (store.NewMessage, *Problem) {
	obj, p := decodeObject(body)
	if p != nil {
		return store.NewMessage{}, p
	}
	return validateMessage(obj, vendors)
}

// validateMessage judges obj, a valid JSON object.
func validateMessage(obj []byte, vendors map[string]string) (store.NewMessage, *Problem) {
	var m store.NewMessage
	var errs []FieldError
	bad := func(field, detail string) { errs = append(errs, FieldError{field, detail}) }

	var err error
	vendorOK := false
	if raw := lastMember(obj, "vendor"); raw == nil || isNull(raw) {
		bad("vendor", "is required")
	} else if m.Vendor, err = unquote(raw); err != nil {
		bad("vendor", "must be a string")
	} else if _, known := vendors[m.Vendor]; !known {
		bad("vendor", fmt.Sprintf("%q is not a configured vendor with a delivery-report API (accepted: %s)",
			truncate(m.Vendor, 40), reportVendorList(vendors)))
	} else {
		vendorOK = true
	}

	if raw := lastMember(obj, "message_id"); raw == nil || isNull(raw) {
		bad("message_id", "is required")
	} else if m.MessageID, err = unquote(raw); err != nil {
		bad("message_id", "must be a string")
	} else if d := checkMessageID(m.MessageID); d != "" {
		bad("message_id", d)
	} else if strings.Contains(m.MessageID, ",") {
		bad("message_id", "must not contain a comma (the vendor's getReport separates ids with commas)")
	}

	if raw := lastMember(obj, "app_id"); raw != nil && !isNull(raw) {
		if m.AppID, err = unquote(raw); err != nil {
			bad("app_id", "must be a string")
		} else if d := checkMessageID(m.AppID); d != "" {
			bad("app_id", d)
		}
	} else if vendorOK {
		if m.AppID = vendors[m.Vendor]; m.AppID == "" {
			bad("app_id", "is required: no default app id is configured for "+m.Vendor)
		}
	}

	if len(errs) > 0 {
		return store.NewMessage{}, errValidation(errs)
	}
	m.ID = TrackedMessageID(m.Vendor, m.MessageID)
	return m, nil
}

func reportVendorList(vendors map[string]string) string {
	if len(vendors) == 0 {
		return "none configured"
	}
	names := make([]string, 0, len(vendors))
	for v := range vendors {
		names = append(names, v)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

type trackedAnswer struct {
	ID        string `json:"id"`
	Status    string `json:"status"`
	Duplicate bool   `json:"duplicate"`
}

func (s *Server) postMessage(c *fiber.Ctx) error {
	svc, p := s.messages()
	if p != nil {
		return p
	}
	if len(c.Request().Body()) > MaxSingleBody {
		return errTooLarge(MaxSingleBody)
	}
	if p := requireJSON(c); p != nil {
		return p
	}
	m, p := DecodeMessage(c.Request().Body(), svc.ReportVendors())
	if p != nil {
		return p
	}
	m.APIKey, _ = c.Locals(localKeyName).(string)
	if p := s.limiter.allow(m.APIKey, 1, s.cfg.Now()); p != nil {
		return p
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	fresh, err := svc.TrackMessages(ctx, []store.NewMessage{m})
	if err != nil || len(fresh) != 1 {
		s.log.Warn("tracking a message failed; answered 503", "tracked_id", m.ID, "vendor", m.Vendor, "message_id", m.MessageID, "err", err)
		return errUnavailable("the message could not be stored; nothing was tracked, retry")
	}
	status := fiber.StatusAccepted
	if !fresh[0] {
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(trackedAnswer{ID: m.ID.String(), Status: "tracking", Duplicate: !fresh[0]})
}

type trackedItem struct {
	*trackedAnswer
	Error *Problem `json:"error,omitempty"`
}

func (s *Server) postMessageBatch(c *fiber.Ctx) error {
	svc, p := s.messages()
	if p != nil {
		return p
	}
	if p := requireJSON(c); p != nil {
		return p
	}
	obj, p := decodeObject(c.Request().Body())
	if p != nil {
		return p
	}
	items, p := batchElements(obj, "messages", "message", MaxBatchMessages)
	if p != nil {
		return p
	}
	key, _ := c.Locals(localKeyName).(string)
	if p := s.limiter.allow(key, len(items), s.cfg.Now()); p != nil {
		return p
	}
	vendors := svc.ReportVendors()
	out := make([]trackedItem, len(items))
	var valid []store.NewMessage
	var at []int
	for i, it := range items {
		if valueKind(it) != "object" {
			out[i].Error = errValidation([]FieldError{{fmt.Sprintf("messages[%d]", i), "must be a JSON object"}})
			continue
		}
		m, p := validateMessage(it, vendors)
		if p != nil {
			out[i].Error = p
			continue
		}
		m.APIKey = key
		valid = append(valid, m)
		at = append(at, i)
	}
	if len(valid) > 0 {
		ctx, cancel := context.WithTimeout(c.UserContext(), 10*time.Second)
		defer cancel()
		fresh, err := svc.TrackMessages(ctx, valid)
		if err != nil || len(fresh) != len(valid) {
			s.log.Warn("tracking a batch failed; answered 503", "messages", len(valid), "err", err)
			return errUnavailable("the messages could not be stored; nothing was tracked, retry")
		}
		for j, i := range at {
			out[i].trackedAnswer = &trackedAnswer{ID: valid[j].ID.String(), Status: "tracking", Duplicate: !fresh[j]}
		}
	}
	return c.JSON(fiber.Map{"results": out})
}

// MessageView is the public JSON form of a tracked message.
type MessageView struct {
	ID        string `json:"id"`
	Vendor    string `json:"vendor"`
	MessageID string `json:"message_id"`
	AppID     string `json:"app_id"`
	// Status is sending, unknown (the vendor answered an undocumented
	// status; still polled), delivered, failed or expired.
	Status      string     `json:"status"`
	ReceiveTime *time.Time `json:"receive_time"`
	Polls       int        `json:"polls"`
	NextPollAt  *time.Time `json:"next_poll_at"`
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// MessageViewOf converts a stored message to its public form.
func MessageViewOf(m store.Message) MessageView {
	return MessageView{
		ID: m.ID.String(), Vendor: m.Vendor, MessageID: m.MessageID, AppID: m.AppID, Status: string(m.Status),
		ReceiveTime: utcPtr(m.ReceiveTime), Polls: m.Polls, NextPollAt: utcPtr(m.NextPollAt),
		CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC(),
	}
}

func (s *Server) getMessage(c *fiber.Ctx) error {
	svc, p := s.messages()
	if p != nil {
		return p
	}
	if p := s.spendRead(c); p != nil {
		return p
	}
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "message ids are UUIDs")
	}
	ctx, cancel := context.WithTimeout(c.UserContext(), 5*time.Second)
	defer cancel()
	m, err := svc.Message(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return problem(fiber.StatusNotFound, "not-found", "Not found", "no message with this id is tracked")
	}
	if err != nil {
		s.log.Warn("reading message", "tracked_id", id, "err", err)
		return errUnavailable("the database is unavailable")
	}
	return c.JSON(MessageViewOf(m))
}
