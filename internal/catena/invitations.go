package catena

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Share levels of InvitationCreate.Permissions and Invitation.Permissions.
const (
	ShareRead      = "read"
	ShareReadWrite = "read_write"
)

// InvitationCreate is the body of POST /v2/orgs/invitations. Only FleetRef is
// required; empty optional fields are not sent, so the API applies its
// defaults (ExpiresInHours 24).
type InvitationCreate struct {
	FleetRef string `json:"fleet_ref"`

	FleetName             string `json:"fleet_name,omitempty"`
	FleetEmail            string `json:"fleet_email,omitempty"`
	FleetRegulatoryID     string `json:"fleet_regulatory_id,omitempty"`
	FleetRegulatoryIDType string `json:"fleet_regulatory_id_type,omitempty"`
	FleetPhone            string `json:"fleet_phone,omitempty"`
	FleetWebsite          string `json:"fleet_website,omitempty"`
	FleetCountryCode      string `json:"fleet_country_code,omitempty"` // 3 characters

	SuccessRedirectURL string `json:"success_redirect_url,omitempty"`
	FailureRedirectURL string `json:"failure_redirect_url,omitempty"`
	CallbackURL        string `json:"callback_url,omitempty"`

	LimitTsps   []string          `json:"limit_tsps,omitempty"`
	Permissions map[string]string `json:"permissions,omitempty"` // name -> ShareRead | ShareReadWrite
	// ExpiresInHours is 1..672; 0 is not sent (API default 24).
	ExpiresInHours int `json:"expires_in_hours,omitempty"`

	PartnerProvidedFleetName             string `json:"partner_provided_fleet_name,omitempty"`
	PartnerProvidedFleetEmail            string `json:"partner_provided_fleet_email,omitempty"`
	PartnerProvidedFleetRegulatoryID     string `json:"partner_provided_fleet_regulatory_id,omitempty"`
	PartnerProvidedFleetRegulatoryIDType string `json:"partner_provided_fleet_regulatory_id_type,omitempty"`
	PartnerProvidedFleetPhone            string `json:"partner_provided_fleet_phone,omitempty"`
	PartnerProvidedFleetWebsite          string `json:"partner_provided_fleet_website,omitempty"`
	PartnerProvidedFleetCountryCode      string `json:"partner_provided_fleet_country_code,omitempty"`
}

func (in *InvitationCreate) validate() error {
	if in.FleetRef == "" {
		return errors.New("fleet_ref: required")
	}
	if in.ExpiresInHours < 0 || in.ExpiresInHours > 672 {
		return fmt.Errorf("expires_in_hours = %d: must be between 1 and 672 (0 = API default 24)", in.ExpiresInHours)
	}
	for name, level := range in.Permissions {
		if level != ShareRead && level != ShareReadWrite {
			return fmt.Errorf("permissions[%q] = %q: must be %q or %q", name, level, ShareRead, ShareReadWrite)
		}
	}
	for _, cc := range []struct{ name, v string }{
		{"fleet_country_code", in.FleetCountryCode},
		{"partner_provided_fleet_country_code", in.PartnerProvidedFleetCountryCode},
	} {
		if cc.v != "" && len([]rune(cc.v)) != 3 {
			return fmt.Errorf("%s = %q: must be 3 characters (ISO 3166-1 alpha-3)", cc.name, cc.v)
		}
	}
	return nil
}

// Invitation is an InvitationRead. Nullable fields are pointers.
//
// ID is the magic-link token and the pre-registration tokens are
// credentials: do not log them. LogValue leaves them out.
type Invitation struct {
	ID             string    `json:"id"`
	CreatedAt      time.Time `json:"created_at"`
	MagicLink      string    `json:"magic_link"`
	ExpiresAt      time.Time `json:"expires_at"`
	ExpiresInHours int       `json:"expires_in_hours"`
	// Status is active, accepted, declined, expired or deleted.
	Status    string  `json:"status"`
	PartnerID string  `json:"partner_id"`
	FleetRef  string  `json:"fleet_ref"`
	FleetID   *string `json:"fleet_id"` // set once accepted

	PartnerSlug                 *string    `json:"partner_slug"`
	FleetName                   *string    `json:"fleet_name"`
	AcceptedAt                  *time.Time `json:"accepted_at"`
	DeclinedAt                  *time.Time `json:"declined_at"`
	DeclineReason               *string    `json:"decline_reason"`
	PreRegistrationAccessToken  *string    `json:"pre_registration_access_token"`
	PreRegistrationRefreshToken *string    `json:"pre_registration_refresh_token"`

	CallbackURL        *string `json:"callback_url"`
	SuccessRedirectURL *string `json:"success_redirect_url"`
	FailureRedirectURL *string `json:"failure_redirect_url"`

	LimitTsps   []string          `json:"limit_tsps"`
	Permissions map[string]string `json:"permissions"`

	FleetEmail            *string `json:"fleet_email"`
	FleetRegulatoryID     *string `json:"fleet_regulatory_id"`
	FleetRegulatoryIDType *string `json:"fleet_regulatory_id_type"`
	FleetPhone            *string `json:"fleet_phone"`
	FleetWebsite          *string `json:"fleet_website"`
	FleetCountryCode      *string `json:"fleet_country_code"`

	PartnerProvidedFleetName             *string `json:"partner_provided_fleet_name"`
	PartnerProvidedFleetEmail            *string `json:"partner_provided_fleet_email"`
	PartnerProvidedFleetRegulatoryID     *string `json:"partner_provided_fleet_regulatory_id"`
	PartnerProvidedFleetRegulatoryIDType *string `json:"partner_provided_fleet_regulatory_id_type"`
	PartnerProvidedFleetPhone            *string `json:"partner_provided_fleet_phone"`
	PartnerProvidedFleetWebsite          *string `json:"partner_provided_fleet_website"`
	PartnerProvidedFleetCountryCode      *string `json:"partner_provided_fleet_country_code"`
}

// LogValue implements slog.LogValuer without the id, the magic link and the
// tokens, which are secrets.
func (inv Invitation) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("fleet_ref", inv.FleetRef),
		slog.String("status", inv.Status),
		slog.Time("created_at", inv.CreatedAt),
		slog.Time("expires_at", inv.ExpiresAt),
	)
}

// CreateInvitation POSTs /v2/orgs/invitations. Both 201 (a new invitation)
// and 200 (an invitation for the same fleet_ref existed and was refreshed:
// expiry extended, tokens regenerated, a declined one reactivated) succeed;
// created reports which. Because the API refreshes rather than duplicates,
// the request is retried like a GET on 429, 5xx and transport errors.
func (c *Client) CreateInvitation(ctx context.Context, in InvitationCreate) (inv *Invitation, created bool, err error) {
	const op = "create_invitation"
	if err := in.validate(); err != nil {
		return nil, false, fmt.Errorf("%s: invalid invitation: %w", op, err)
	}
	body, err := json.Marshal(&in)
	if err != nil {
		return nil, false, fmt.Errorf("%s: encode body: %w", op, err)
	}
	r := request{op: op, method: "POST", endpoint: EndpointInvitations, url: c.baseURL + EndpointInvitations, body: body}
	err = c.do(ctx, &r, func(status int, b []byte) error {
		var v Invitation
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		inv, created = &v, status == http.StatusCreated
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("%s for fleet_ref %q: %w", op, in.FleetRef, err)
	}
	return inv, created, nil
}
