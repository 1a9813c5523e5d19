package catena

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

const invitationRead = `{"id":"5d7c1f0e-9a8b-4c3d-8e2f-1a0b9c8d7e6f","created_at":"2025-04-01T12:00:00Z","magic_link":"https://connect.catenatelematics.com/i/5d7c1f0e","expires_at":"2025-04-02T12:00:00Z","expires_in_hours":24,"status":"active","fleet_name":"Acme","accepted_at":null,"pre_registration_access_token":null,"pre_registration_refresh_token":null,"callback_url":"https://example.com/cb","success_redirect_url":null,"failure_redirect_url":null,"limit_tsps":["samsara","motive"],"fleet_id":null,"partner_slug":"bridge","partner_id":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","decline_reason":null,"declined_at":null,"fleet_ref":"acme-1","permissions":{"vehicles":"read","locations":"read_write"},"fleet_email":"ops@acme.test","fleet_regulatory_id":"US-DOT-1234567","fleet_regulatory_id_type":"usdot","fleet_phone":null,"fleet_website":null,"fleet_country_code":"USA","partner_provided_fleet_name":"Acme Inc","partner_provided_fleet_email":null,"partner_provided_fleet_regulatory_id":null,"partner_provided_fleet_regulatory_id_type":null,"partner_provided_fleet_phone":null,"partner_provided_fleet_website":null,"partner_provided_fleet_country_code":null}`

func TestCreateInvitation(t *testing.T) {
	for _, tt := range []struct {
		status  int
		created bool
	}{{http.StatusCreated, true}, {http.StatusOK, false}} {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			f := newFake(t)
			var contentType string
			f.handle("POST /v2/orgs/invitations", func(w http.ResponseWriter, r *http.Request) {
				contentType = r.Header.Get("Content-Type")
				writeJSON(w, tt.status, invitationRead)
			})
			c := f.client(nil)
			inv, created, err := c.CreateInvitation(context.Background(), InvitationCreate{
				FleetRef:         "acme-1",
				FleetName:        "Acme",
				FleetEmail:       "ops@acme.test",
				FleetCountryCode: "USA",
				CallbackURL:      "https://example.com/cb",
				LimitTsps:        []string{"samsara", "motive"},
				Permissions:      map[string]string{"vehicles": ShareRead, "locations": ShareReadWrite},
				ExpiresInHours:   72,

				PartnerProvidedFleetName: "Acme Inc",
			})
			if err != nil {
				t.Fatal(err)
			}
			if created != tt.created {
				t.Fatalf("created = %v, want %v", created, tt.created)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].method != "POST" || contentType != "application/json" {
				t.Fatalf("requests %+v, content type %q", reqs, contentType)
			}
			var body map[string]any
			if err := json.Unmarshal(reqs[0].body, &body); err != nil {
				t.Fatal(err)
			}
			wantBody := map[string]any{
				"fleet_ref": "acme-1", "fleet_name": "Acme", "fleet_email": "ops@acme.test", "fleet_country_code": "USA",
				"callback_url": "https://example.com/cb", "limit_tsps": []any{"samsara", "motive"},
				"permissions":                 map[string]any{"vehicles": "read", "locations": "read_write"},
				"expires_in_hours":            float64(72),
				"partner_provided_fleet_name": "Acme Inc",
			}
			if !reflect.DeepEqual(body, wantBody) {
				t.Fatalf("request body %v\nwant %v", body, wantBody)
			}
			if inv.ID != "5d7c1f0e-9a8b-4c3d-8e2f-1a0b9c8d7e6f" || inv.Status != "active" || inv.FleetRef != "acme-1" ||
				inv.ExpiresInHours != 24 || !inv.ExpiresAt.Equal(time.Date(2025, 4, 2, 12, 0, 0, 0, time.UTC)) ||
				inv.FleetID != nil || inv.AcceptedAt != nil || *inv.PartnerSlug != "bridge" ||
				inv.Permissions["locations"] != "read_write" || !reflect.DeepEqual(inv.LimitTsps, []string{"samsara", "motive"}) ||
				*inv.FleetCountryCode != "USA" || *inv.PartnerProvidedFleetName != "Acme Inc" || inv.PartnerProvidedFleetEmail != nil {
				t.Fatalf("decoded invitation %+v", inv)
			}
		})
	}
}

func TestCreateInvitationRetriesWithBody(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v2/orgs/invitations", scripted(
		func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 401, `{"code":401}`) }, // forces a token renewal
		func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, invitationRead) },
	))
	c := f.client(nil)
	if _, created, err := c.CreateInvitation(context.Background(), InvitationCreate{FleetRef: "acme-1"}); err != nil || !created {
		t.Fatalf("created %v err %v", created, err)
	}
	reqs := f.requests()
	if len(reqs) != 2 || string(reqs[1].body) != `{"fleet_ref":"acme-1"}` {
		t.Fatalf("retried request body %q (requests %d)", reqs[len(reqs)-1].body, len(reqs))
	}
}

func TestCreateInvitationValidation(t *testing.T) {
	f := newFake(t)
	c := f.client(nil)
	for _, tt := range []struct {
		in   InvitationCreate
		want string
	}{
		{InvitationCreate{}, "fleet_ref: required"},
		{InvitationCreate{FleetRef: "a", ExpiresInHours: 673}, "expires_in_hours = 673"},
		{InvitationCreate{FleetRef: "a", Permissions: map[string]string{"vehicles": "write"}}, `permissions["vehicles"] = "write"`},
		{InvitationCreate{FleetRef: "a", FleetCountryCode: "US"}, `fleet_country_code = "US"`},
	} {
		if _, _, err := c.CreateInvitation(context.Background(), tt.in); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
	if f.tokens() != 0 {
		t.Fatal("invalid invitations sent requests")
	}
}

func TestInvitationLogValueHidesSecrets(t *testing.T) {
	var inv Invitation
	if err := json.Unmarshal([]byte(invitationRead), &inv); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("created", "invitation", &inv)
	if strings.Contains(b.String(), inv.ID[:8]) || !strings.Contains(b.String(), "acme-1") {
		t.Fatalf("log line %q", b.String())
	}
}
