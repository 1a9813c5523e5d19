// Package catena is the Catena Telematics API client: the OAuth2 token
// source, cursor pagers over vehicle locations and vehicles, invitations,
// retries with back-off, a client-side rate limit and typed API errors.
//
// One Client is safe for concurrent use and shares, across every goroutine
// that uses it, one cached bearer token, one rate limiter and one pool of
// keep-alive connections. Each request is retried on 429, 5xx, timeouts and
// connection errors with exponential back-off bounded by
// Config.RetryMaxElapsed; other API errors fail at once as *APIError.
//
// The API contract this client follows (vehicle-location rules, page
// envelope, error bodies) is summarised on the types that use it. In short:
// only_latest=true (the API default) returns the latest location of every
// vehicle and ignores the time range; only_latest=false returns history for
// exactly one vehicle or driver over at most 45 days, which is why History and
// Windows exist.
package catena

import (
	"errors"
	"time"
)

const (
	// DefaultAPIURL is the base URL of the Catena REST API.
	DefaultAPIURL = "https://api.catenatelematics.com"
	// DefaultTokenURL is the OAuth2 token endpoint (Keycloak realm "catena").
	DefaultTokenURL = "https://auth.catenatelematics.com/realms/catena/protocol/openid-connect/token"

	// MaxHistoryWindow is the longest to_datetime - from_datetime range the
	// vehicle-locations endpoint accepts with only_latest=false.
	MaxHistoryWindow = 45 * 24 * time.Hour
	// MaxPageSize is the largest page size ("size") the list endpoints accept.
	MaxPageSize = 1000
	// maxFilterValues is the contract's maxItems for every list filter
	// (fleet_ids, fleet_refs, vehicle_ids, driver_ids, source_ids).
	maxFilterValues = 100
)

// Endpoint path templates, as reported to Observer and in errors.
const (
	EndpointToken            = "/protocol/openid-connect/token"
	EndpointVehicleLocations = "/v2/telematics/vehicle-locations"
	EndpointVehicles         = "/v2/telematics/vehicles"
	EndpointInvitations      = "/v2/orgs/invitations"
)

// ErrCursorRepeated is wrapped by Pager.Next when the API returns a
// next_page cursor this pager already requested: following it would loop
// forever.
var ErrCursorRepeated = errors.New("catena: pagination stalled: cursor repeated")

// ErrUnauthorized is wrapped when the credentials are rejected: the token
// endpoint answered 401, or the API answered 401 again after the token was
// renewed once. Retrying will not help; check the client id and client secret
// (and that the client is enabled and has the scopes the endpoint needs).
var ErrUnauthorized = errors.New("catena: unauthorized: check the client id and client secret")
