package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"relay/internal/inbound"
	"relay/internal/inbound/apiclient"
	"relay/internal/testenv"
	"relay/internal/vendors/liasmart/liasmarttest"
)

// bearer authenticates every request of a generated client.
func bearer(token string) apiclient.ClientOption {
	return apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+token)
		return nil
	})
}

// TestGeneratedClientRunsTheREADMEFlow proves the OpenAPI document usable:
// the client generated from it (internal/inbound/apiclient) posts an
// event, posts it again, reads its state, lists failed events and dry-runs
// their replay against a whole relay (PostgreSQL, NATS, fake CTrack). Its
// exchanges also go through the document's validation.
func TestGeneratedClientRunsTheREADMEFlow(t *testing.T) {
	t.Parallel()
	// CTrack confirms every message but "refused-1", which it refuses for
	// good (1001: a permanent failure of that event).
	r := opsRelay(t, 8, func(messageID string, _ int) *liasmarttest.Reply {
		if messageID == "refused-1" {
			return &liasmarttest.Reply{Code: 1001}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	app, err := apiclient.NewClientWithResponses(r.url, apiclient.WithHTTPClient(r.client), bearer(testKey))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := apiclient.NewClientWithResponses(r.url, apiclient.WithHTTPClient(r.client), bearer(opsAdminToken))
	if err != nil {
		t.Fatal(err)
	}

	// Post an event: 202, not a duplicate, the documented id.
	event := apiclient.Registration{Vendor: "liasmart", MessageId: "4134", Status: true}
	first, err := app.PostRegistrationWithResponse(ctx, nil, event)
	if err != nil {
		t.Fatal(err)
	}
	wantID := inbound.EventID("liasmart", "4134")
	if first.StatusCode() != http.StatusAccepted || first.JSON202 == nil || first.JSON202.Id != wantID || first.JSON202.Duplicate {
		t.Fatalf("first post: %d %s", first.StatusCode(), first.Body)
	}

	// The same event again: 200, a duplicate, the same id.
	again, err := app.PostRegistrationWithResponse(ctx, nil, event)
	if err != nil {
		t.Fatal(err)
	}
	if again.StatusCode() != http.StatusOK || again.JSON200 == nil || again.JSON200.Id != wantID || !again.JSON200.Duplicate {
		t.Fatalf("repeat: %d %s", again.StatusCode(), again.Body)
	}

	// Its state, until the worker confirmed it (404 not-yet-known first).
	var confirmed *apiclient.Event
	testenv.Eventually(t, 30*time.Second, "event 4134 confirmed", func() bool {
		got, err := app.GetRegistrationWithResponse(ctx, wantID, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got.StatusCode() == http.StatusNotFound && got.ApplicationproblemJSON404 != nil {
			return false
		}
		if got.JSON200 == nil {
			t.Fatalf("read: %d %s", got.StatusCode(), got.Body)
		}
		confirmed = got.JSON200
		return confirmed.State == apiclient.StateConfirmed
	})
	if confirmed.MessageId != "4134" || confirmed.Attempts != 1 || confirmed.VendorCode == nil || *confirmed.VendorCode != 1000 || confirmed.ConfirmedAt == nil {
		t.Errorf("confirmed event: %+v", confirmed)
	}

	// An event the vendor refuses ends failed.
	refused := apiclient.Registration{Vendor: "liasmart", MessageId: "refused-1", Status: true}
	if res, err := app.PostRegistrationWithResponse(ctx, nil, refused); err != nil || res.StatusCode() != http.StatusAccepted {
		t.Fatalf("post refused-1: %v %s", err, res.Body)
	}
	refusedID := inbound.EventID("liasmart", "refused-1")

	// List failed events (admin).
	failed := string(apiclient.StateFailed)
	params := &apiclient.AdminListRegistrationsParams{State: &failed}
	testenv.Eventually(t, 30*time.Second, "refused-1 listed as failed", func() bool {
		page, err := admin.AdminListRegistrationsWithResponse(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if page.JSON200 == nil {
			t.Fatalf("list: %d %s", page.StatusCode(), page.Body)
		}
		return len(page.JSON200.Items) == 1 && page.JSON200.Items[0].Id == refusedID
	})

	// Dry-run their replay (admin): one matched, nothing replayed.
	var state apiclient.ReplayFilter_State
	if err := state.FromReplayFilterState1([]apiclient.State{apiclient.StateFailed}); err != nil {
		t.Fatal(err)
	}
	dry := true
	res, err := admin.AdminReplayWithResponse(ctx, nil, apiclient.ReplayRequest{
		Filter: &apiclient.ReplayFilter{State: &state}, DryRun: &dry,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.JSON200 == nil || !res.JSON200.DryRun || res.JSON200.Matched != 1 || res.JSON200.Replayed != 0 || res.JSON200.WouldReplay != 1 {
		t.Fatalf("dry-run replay: %d %s", res.StatusCode(), res.Body)
	}
	// A dry run changes nothing.
	got, err := app.GetRegistrationWithResponse(ctx, refusedID, nil)
	if err != nil || got.JSON200 == nil || got.JSON200.State != apiclient.StateFailed {
		t.Errorf("refused-1 after the dry run: %v %s", err, got.Body)
	}
}
