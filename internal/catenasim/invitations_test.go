package catenasim

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestInvitations(t *testing.T) {
	h := newHarness(t, Config{TokenTTL: 1000 * time.Hour})
	create := func(body string) response { return h.do("POST", "/v2/orgs/invitations", []byte(body), true) }

	r := create(`{"fleet_ref":"acme-1","fleet_name":"Acme","callback_url":"https://example.com/cb","expires_in_hours":48}`)
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	inv := r.decode(t)
	required := []string{"accepted_at", "callback_url", "created_at", "decline_reason", "declined_at", "expires_at",
		"expires_in_hours", "failure_redirect_url", "fleet_country_code", "fleet_email", "fleet_name", "fleet_phone",
		"fleet_ref", "fleet_regulatory_id", "fleet_regulatory_id_type", "fleet_website", "id", "limit_tsps", "magic_link",
		"partner_id", "partner_provided_fleet_country_code", "partner_provided_fleet_email", "partner_provided_fleet_name",
		"partner_provided_fleet_phone", "partner_provided_fleet_regulatory_id", "partner_provided_fleet_regulatory_id_type",
		"partner_provided_fleet_website", "partner_slug", "permissions", "pre_registration_access_token",
		"pre_registration_refresh_token", "status", "success_redirect_url"}
	for _, k := range required {
		if _, ok := inv[k]; !ok {
			t.Errorf("InvitationRead.%s missing", k)
		}
	}
	id, _ := inv["id"].(string)
	if _, ok := parseUUID(id); !ok || inv["magic_link"] != MagicLinkBase+id || inv["status"] != "active" ||
		inv["fleet_name"] != "Acme" || inv["callback_url"] != "https://example.com/cb" || inv["expires_in_hours"] != json.Number("48") {
		t.Fatalf("invitation %v", inv)
	}
	if _, ok := inv["permissions"].(map[string]any); !ok {
		t.Fatalf("permissions = %v", inv["permissions"])
	}
	if exp, _ := time.Parse(time.RFC3339, inv["expires_at"].(string)); !exp.Equal(t0.Add(48 * time.Hour)) {
		t.Fatalf("expires_at %v", exp)
	}

	// The same fleet_ref again: 200, same invitation, expiry restarted.
	h.clk.Advance(time.Hour)
	r = create(`{"fleet_ref":"acme-1"}`)
	if r.status != 200 {
		t.Fatalf("second create: %d %s", r.status, r.body)
	}
	again := r.decode(t)
	if again["id"] != id {
		t.Fatalf("refreshed invitation has id %v, want %s", again["id"], id)
	}
	if exp, _ := time.Parse(time.RFC3339, again["expires_at"].(string)); !exp.Equal(t0.Add(25 * time.Hour)) {
		t.Fatalf("refreshed expires_at %v, want now+24h", exp)
	}
	if r := create(`{"fleet_ref":"other"}`); r.status != 201 {
		t.Fatalf("other ref: %d", r.status)
	}

	// Get by id: no auth needed.
	r = h.do("GET", "/v2/orgs/invitations/"+id, nil, false)
	if r.status != 200 || r.decode(t)["fleet_ref"] != "acme-1" {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := h.do("GET", "/v2/orgs/invitations/00000000-0000-4000-8000-000000000000", nil, false); r.status != 404 {
		t.Fatalf("unknown id: %d", r.status)
	}
	if r := h.do("GET", "/v2/orgs/invitations/nope", nil, false); r.status != 422 || strings.Contains(string(r.body), "nope") {
		t.Fatalf("bad id: %d %s", r.status, r.body)
	}

	// List, filter, paging.
	items, totals, pages := h.all("/v2/orgs/invitations?size=1")
	if len(items) != 2 || totals[0] != 2 || pages != 2 {
		t.Fatalf("list: %d items, total %d, %d pages", len(items), totals[0], pages)
	}
	pg := h.getPage("/v2/orgs/invitations?fleet_ref=other")
	if len(pg.Items) != 1 || pg.Items[0]["fleet_ref"] != "other" {
		t.Fatalf("filtered list: %v", pg.Items)
	}

	// Expiry: status turns expired, and a new POST creates a new invitation.
	h.clk.Advance(25 * time.Hour)
	if r := h.do("GET", "/v2/orgs/invitations/"+id, nil, false); r.decode(t)["status"] != "expired" {
		t.Fatalf("status after expiry: %s", r.body)
	}
	r = create(`{"fleet_ref":"acme-1"}`)
	if r.status != 201 || r.decode(t)["id"] == id {
		t.Fatalf("create after expiry: %d %s", r.status, r.body)
	}

	// Deterministic ids: a fresh server hands out the same id for the same ref.
	h2 := newHarness(t, Config{TokenTTL: 1000 * time.Hour})
	if r := h2.do("POST", "/v2/orgs/invitations", []byte(`{"fleet_ref":"acme-1"}`), true); r.decode(t)["id"] != id {
		t.Fatal("invitation id not deterministic")
	}
}

func TestInvitationCreate422(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []struct {
		name, body, path, errType string
	}{
		{"not json", `{`, "body", "json_invalid"},
		{"array", `[]`, "body", "json_invalid"},
		{"missing fleet_ref", `{"fleet_name":"x"}`, "body.fleet_ref", "missing"},
		{"fleet_ref number", `{"fleet_ref":5}`, "body.fleet_ref", "string_type"},
		{"hours 0", `{"fleet_ref":"a","expires_in_hours":0}`, "body.expires_in_hours", "greater_than_equal"},
		{"hours 673", `{"fleet_ref":"a","expires_in_hours":673}`, "body.expires_in_hours", "less_than_equal"},
		{"hours fraction", `{"fleet_ref":"a","expires_in_hours":1.5}`, "body.expires_in_hours", "int_from_float"},
		{"hours string", `{"fleet_ref":"a","expires_in_hours":"x"}`, "body.expires_in_hours", "int_type"},
		{"relative url", `{"fleet_ref":"a","success_redirect_url":"/done"}`, "body.success_redirect_url", "url_parsing"},
		{"empty url", `{"fleet_ref":"a","callback_url":""}`, "body.callback_url", "string_too_short"},
		{"long url", `{"fleet_ref":"a","failure_redirect_url":"https://x.com/` + strings.Repeat("a", 2100) + `"}`, "body.failure_redirect_url", "string_too_long"},
		{"bad email", `{"fleet_ref":"a","fleet_email":"nobody"}`, "body.fleet_email", "value_error"},
		{"bad country", `{"fleet_ref":"a","fleet_country_code":"US"}`, "body.fleet_country_code", "string_pattern_mismatch"},
		{"bad permission", `{"fleet_ref":"a","permissions":{"vehicles":"write"}}`, "body.permissions.vehicles", "enum"},
	} {
		r := h.do("POST", "/v2/orgs/invitations", []byte(tc.body), true)
		if r.status != 422 {
			t.Errorf("%s: status %d: %s", tc.name, r.status, r.body)
			continue
		}
		var body struct{ Detail []validationDetail }
		json.Unmarshal(r.body, &body)
		ok := false
		for _, d := range body.Detail {
			ok = ok || d.Path == tc.path && d.ErrorType == tc.errType
		}
		if !ok {
			t.Errorf("%s: no {%s %s} in %s", tc.name, tc.path, tc.errType, r.body)
		}
	}
	for _, good := range []string{
		`{"fleet_ref":"g1","expires_in_hours":1}`, `{"fleet_ref":"g2","expires_in_hours":672}`,
		`{"fleet_ref":"g3","fleet_email":"a@b.co","fleet_country_code":"USA","fleet_website":"https://acme.example","limit_tsps":["samsara"],"permissions":{"vehicles":"read_write"},"fleet_phone":null}`,
	} {
		if r := h.do("POST", "/v2/orgs/invitations", []byte(good), true); r.status != 201 {
			t.Errorf("%s: %d %s", good, r.status, r.body)
		}
	}
	if r := h.get("/v2/orgs/invitations?size=0"); r.status != 422 {
		t.Errorf("list size=0: %d", r.status)
	}
}
