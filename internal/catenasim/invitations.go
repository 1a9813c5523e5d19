package catenasim

import (
	"bytes"
	"encoding/json"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// MagicLinkBase prefixes the invitation id in magic_link: the form the
// product documents (the upstream spec's example, connect.catena.eu/?invite=,
// has the same shape).
const MagicLinkBase = "https://connect.catenatelematics.com/?invite="

// invitationRead is the wire InvitationRead: every field but fleet_id is
// required, nullable ones are pointers without omitempty.
type invitationRead struct {
	ID                                   string            `json:"id"`
	CreatedAt                            apiTime           `json:"created_at"`
	MagicLink                            string            `json:"magic_link"`
	ExpiresAt                            apiTime           `json:"expires_at"`
	ExpiresInHours                       int               `json:"expires_in_hours"`
	Status                               string            `json:"status"`
	FleetName                            *string           `json:"fleet_name"`
	AcceptedAt                           *apiTime          `json:"accepted_at"`
	PreRegistrationAccessToken           *string           `json:"pre_registration_access_token"`
	PreRegistrationRefreshToken          *string           `json:"pre_registration_refresh_token"`
	CallbackURL                          *string           `json:"callback_url"`
	SuccessRedirectURL                   *string           `json:"success_redirect_url"`
	FailureRedirectURL                   *string           `json:"failure_redirect_url"`
	LimitTsps                            []string          `json:"limit_tsps"`
	FleetID                              *string           `json:"fleet_id"`
	PartnerSlug                          *string           `json:"partner_slug"`
	PartnerID                            string            `json:"partner_id"`
	DeclineReason                        *string           `json:"decline_reason"`
	DeclinedAt                           *apiTime          `json:"declined_at"`
	FleetRef                             string            `json:"fleet_ref"`
	Permissions                          map[string]string `json:"permissions"`
	FleetEmail                           *string           `json:"fleet_email"`
	FleetRegulatoryID                    *string           `json:"fleet_regulatory_id"`
	FleetRegulatoryIDType                *string           `json:"fleet_regulatory_id_type"`
	FleetPhone                           *string           `json:"fleet_phone"`
	FleetWebsite                         *string           `json:"fleet_website"`
	FleetCountryCode                     *string           `json:"fleet_country_code"`
	PartnerProvidedFleetName             *string           `json:"partner_provided_fleet_name"`
	PartnerProvidedFleetEmail            *string           `json:"partner_provided_fleet_email"`
	PartnerProvidedFleetRegulatoryID     *string           `json:"partner_provided_fleet_regulatory_id"`
	PartnerProvidedFleetRegulatoryIDType *string           `json:"partner_provided_fleet_regulatory_id_type"`
	PartnerProvidedFleetPhone            *string           `json:"partner_provided_fleet_phone"`
	PartnerProvidedFleetWebsite          *string           `json:"partner_provided_fleet_website"`
	PartnerProvidedFleetCountryCode      *string           `json:"partner_provided_fleet_country_code"`
}

// invitations is the in-memory store; it is the only state that does not
// survive a restart. Guarded by Server.invMu.
type invitations struct {
	list  []*invitationRead
	byID  map[string]*invitationRead
	byRef map[string]*invitationRead // latest per fleet_ref
	gen   map[string]uint64          // invitations created per fleet_ref
}

func (iv *invitations) init() {
	iv.byID = map[string]*invitationRead{}
	iv.byRef = map[string]*invitationRead{}
	iv.gen = map[string]uint64{}
}

// status reports the invitation's status at now: an active invitation past
// expires_at is expired.
func status(inv *invitationRead, now time.Time) string {
	if inv.Status == "active" && !now.Before(time.Time(inv.ExpiresAt)) {
		return "expired"
	}
	return inv.Status
}

func (s *Server) snapshot(inv *invitationRead, now time.Time) invitationRead {
	c := *inv
	c.Status = status(inv, now)
	return c
}

var (
	countryRE    = regexp.MustCompile(`^\w{3}$`)
	stringFields = []string{"fleet_name", "fleet_regulatory_id", "fleet_regulatory_id_type", "fleet_phone",
		"partner_provided_fleet_name", "partner_provided_fleet_regulatory_id",
		"partner_provided_fleet_regulatory_id_type", "partner_provided_fleet_phone"}
	emailFields   = []string{"fleet_email", "partner_provided_fleet_email"}
	urlFields     = []string{"fleet_website", "success_redirect_url", "failure_redirect_url", "callback_url", "partner_provided_fleet_website"}
	countryFields = []string{"fleet_country_code", "partner_provided_fleet_country_code"}
)

func inputOf(raw json.RawMessage) string {
	s := string(raw)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// parseInvitationCreate validates an InvitationCreate body. Values are
// returned as decoded; nil for absent or null.
func parseInvitationCreate(body []byte, e *verrs) (fields map[string]*string, tsps []string, perms map[string]string, hours int, ref string) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil || m == nil {
		e.add("body", inputOf(body), "json_invalid", "JSON decode error: body must be a JSON object")
		return
	}
	isNull := func(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }
	str := func(name string, nullable bool) *string {
		raw, ok := m[name]
		if !ok || (nullable && isNull(raw)) {
			if !ok && !nullable {
				e.add("body."+name, "", "missing", "Field required")
			}
			return nil
		}
		var v string
		if err := json.Unmarshal(raw, &v); err != nil {
			e.add("body."+name, inputOf(raw), "string_type", "Input should be a valid string")
			return nil
		}
		return &v
	}
	fields = map[string]*string{}
	if p := str("fleet_ref", false); p != nil {
		ref = *p
	}
	for _, n := range stringFields {
		fields[n] = str(n, true)
	}
	for _, n := range emailFields {
		if p := str(n, true); p != nil {
			local, domain, ok := strings.Cut(*p, "@")
			if !ok || local == "" || !strings.Contains(domain, ".") || strings.ContainsAny(domain, "@ ") {
				e.add("body."+n, *p, "value_error", "value is not a valid email address: An email address must have an @-sign and a domain.")
				continue
			}
			fields[n] = p
		}
	}
	for _, n := range urlFields {
		if p := str(n, true); p != nil {
			switch u, err := url.Parse(*p); {
			case len(*p) < 1:
				e.add("body."+n, *p, "string_too_short", "String should have at least 1 character")
			case len(*p) > 2083:
				e.add("body."+n, inputOf(json.RawMessage(*p)), "string_too_long", "String should have at most 2083 characters")
			case err != nil || u.Scheme == "" || u.Host == "":
				e.add("body."+n, *p, "url_parsing", "Input should be a valid URL, relative URL without a base")
			default:
				fields[n] = p
			}
		}
	}
	for _, n := range countryFields {
		if p := str(n, true); p != nil {
			if !countryRE.MatchString(*p) {
				e.add("body."+n, *p, "string_pattern_mismatch", `String should match pattern '^\w{3}$'`)
				continue
			}
			fields[n] = p
		}
	}
	if raw, ok := m["limit_tsps"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &tsps); err != nil {
			e.add("body.limit_tsps", inputOf(raw), "list_type", "Input should be a valid list of strings")
		}
	}
	if raw, ok := m["permissions"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &perms); err != nil {
			e.add("body.permissions", inputOf(raw), "dict_type", "Input should be a valid dictionary")
		}
		for k, v := range perms {
			if v != "read" && v != "read_write" {
				e.add("body.permissions."+k, v, "enum", "Input should be 'read' or 'read_write'")
			}
		}
	}
	hours = 24
	if raw, ok := m["expires_in_hours"]; ok {
		var f float64
		switch err := json.Unmarshal(raw, &f); {
		case err != nil || isNull(raw):
			e.add("body.expires_in_hours", inputOf(raw), "int_type", "Input should be a valid integer")
		case f != float64(int64(f)):
			e.add("body.expires_in_hours", inputOf(raw), "int_from_float", "Input should be a valid integer, got a number with a fractional part")
		case f < 1:
			e.add("body.expires_in_hours", inputOf(raw), "greater_than_equal", "Input should be greater than or equal to 1")
		case f > 672:
			e.add("body.expires_in_hours", inputOf(raw), "less_than_equal", "Input should be less than or equal to 672")
		default:
			hours = int(f)
		}
	}
	return
}

// handleInvitationCreate creates an invitation (201), or refreshes the
// live one of the same fleet_ref (200): its expiry restarts from now with
// the new expires_in_hours and a declined invitation is reactivated. An
// expired invitation is replaced by a new one.
func (s *Server) handleInvitationCreate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "request body too large or unreadable")
		return
	}
	var e verrs
	fields, tsps, perms, hours, ref := parseInvitationCreate(body, &e)
	if len(e) > 0 {
		write422(w, e)
		return
	}
	if perms == nil {
		perms = map[string]string{"vehicles": "read", "vehicle_locations": "read"}
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	s.invMu.Lock()
	defer s.invMu.Unlock()
	if inv := s.inv.byRef[ref]; inv != nil && status(inv, now) != "expired" && inv.Status != "deleted" {
		inv.ExpiresInHours = hours
		inv.ExpiresAt = apiTime(now.Add(time.Duration(hours) * time.Hour))
		// Refreshed as the contract says: an accepted invitation stays
		// accepted (its tokens are regenerated), a declined one is
		// reactivated.
		if inv.Status == "declined" {
			inv.Status = "active"
			inv.DeclinedAt, inv.DeclineReason = nil, nil
		}
		writeJSON(w, http.StatusOK, s.snapshot(inv, now))
		return
	}
	h := fnv.New64a()
	h.Write([]byte(ref))
	gen := s.inv.gen[ref]
	s.inv.gen[ref] = gen + 1
	// Deterministic id: a restarted simulator hands out the same ids.
	id := s.uuidFor(tagInvitation, h.Sum64(), gen)
	inv := &invitationRead{
		ID:                                   id,
		CreatedAt:                            apiTime(now),
		MagicLink:                            MagicLinkBase + id,
		ExpiresAt:                            apiTime(now.Add(time.Duration(hours) * time.Hour)),
		ExpiresInHours:                       hours,
		Status:                               "active",
		FleetName:                            fields["fleet_name"],
		CallbackURL:                          fields["callback_url"],
		SuccessRedirectURL:                   fields["success_redirect_url"],
		FailureRedirectURL:                   fields["failure_redirect_url"],
		LimitTsps:                            tsps,
		PartnerSlug:                          ptr("catenasim-partner"),
		PartnerID:                            s.partnerID,
		FleetRef:                             ref,
		Permissions:                          perms,
		FleetEmail:                           fields["fleet_email"],
		FleetRegulatoryID:                    fields["fleet_regulatory_id"],
		FleetRegulatoryIDType:                fields["fleet_regulatory_id_type"],
		FleetPhone:                           fields["fleet_phone"],
		FleetWebsite:                         fields["fleet_website"],
		FleetCountryCode:                     fields["fleet_country_code"],
		PartnerProvidedFleetName:             fields["partner_provided_fleet_name"],
		PartnerProvidedFleetEmail:            fields["partner_provided_fleet_email"],
		PartnerProvidedFleetRegulatoryID:     fields["partner_provided_fleet_regulatory_id"],
		PartnerProvidedFleetRegulatoryIDType: fields["partner_provided_fleet_regulatory_id_type"],
		PartnerProvidedFleetPhone:            fields["partner_provided_fleet_phone"],
		PartnerProvidedFleetWebsite:          fields["partner_provided_fleet_website"],
		PartnerProvidedFleetCountryCode:      fields["partner_provided_fleet_country_code"],
	}
	s.inv.list = append(s.inv.list, inv)
	s.inv.byID[id] = inv
	s.inv.byRef[ref] = inv
	writeJSON(w, http.StatusCreated, s.snapshot(inv, now))
}

func (s *Server) handleInvitationList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var e verrs
	size := qInt(q, "size", 300, 1, 1000, &e)
	if len(e) > 0 {
		write422(w, e)
		return
	}
	ref, hasRef := last(q, "fleet_ref")
	var c *cursor
	if cur, ok := last(q, "cursor"); ok && cur != "" {
		cc, err := s.decodeCursor(cur, curInvitation)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Invalid cursor value")
			return
		}
		c = &cc
	}
	now := s.clock.Now()
	s.invMu.Lock()
	defer s.invMu.Unlock()
	list := s.inv.list
	sq := seq{lo: 0, hi: int64(len(list)), incl: func(i int64) bool { return !hasRef || list[i].FleetRef == ref }}
	var total int64
	for i := sq.lo; i < sq.hi; i++ {
		if sq.incl(i) {
			total++
		}
	}
	pg := s.page(sq, curInvitation, c, size, 0)
	items := make([]invitationRead, 0, len(pg.pos))
	for _, i := range pg.pos {
		items = append(items, s.snapshot(list[i], now))
	}
	writeJSON(w, http.StatusOK, newCursorPage(items, total, &pg))
}

func (s *Server) handleInvitationGet(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimPrefix(r.URL.Path, "/v2/orgs/invitations/")
	id, ok := parseUUID(raw)
	if !ok {
		// The id is a secret: it is not echoed back.
		var e verrs
		e.add("path.invitation_id", "", "uuid_parsing", "Input should be a valid UUID, invalid character or length")
		write422(w, e)
		return
	}
	s.invMu.Lock()
	defer s.invMu.Unlock()
	inv := s.inv.byID[id]
	if inv == nil {
		writeAPIError(w, http.StatusNotFound, "Invitation not found")
		return
	}
	writeJSON(w, http.StatusOK, s.snapshot(inv, s.clock.Now()))
}
