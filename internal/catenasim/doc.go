// Package catenasim is a simulated Catena Telematics API for the demo, the
// sim command, docker compose and tests.
//
// One Server serves both the OAuth2 token endpoint and the REST API, like the
// compose setup:
//
//	POST /realms/catena/protocol/openid-connect/token   client credentials (form or HTTP Basic)
//	GET  /v2/telematics/vehicle-locations               only_latest snapshot or one vehicle's history
//	GET  /v2/telematics/vehicles
//	POST /v2/orgs/invitations                           201 new, 200 refreshed
//	GET  /v2/orgs/invitations
//	GET  /v2/orgs/invitations/{invitation_id}           unauthenticated, like the real API
//	POST /v2/notifications/webhooks                     200 Webhook; an array for vehicle_location.*
//	GET  /v2/notifications/webhooks                     cursor page of WebhookRead, no total
//	GET, DELETE /v2/notifications/webhooks/{webhook_id}
//	POST /v2/notifications/webhooks/{webhook_id}/activate, /pause, /replay (202 {})
//	GET  /healthz
//
// The data is deterministic and stable across process restarts: every point
// is a pure function of (Config.Seed, vehicle index, tick k). Vehicle i
// reports at Unix epoch + k*ReportInterval + a per-vehicle offset, for every
// k >= 0, and a point is served only once the clock has reached its
// VisibleAt. Cursors encode positions in that data (tick or vehicle index),
// not server-side state, so a cursor issued by one Server works on another
// Server with the same seed, and across restarts. Only invitations live in
// memory.
//
// The simulator writes the wire format from its own model and deliberately
// imports no client or record package of this module, so a decoding bug in
// the client is caught by tests instead of being mirrored here. Ground truth
// for tests is available through Vehicles, Points and Stats.
//
// Faults (rate limiting, 5xx, latency, duplicate records across page
// boundaries, late points, malformed points) are injected deterministically
// by the knobs in Faults. Config.RateLimit enforces a per-client request
// budget as the real API does: above it, 429 with retry_after_seconds;
// Stats.Kinds counts served and refused requests by kind.
//
// Webhooks: subscriptions live in memory. Only vehicle_location.added is
// served (vehicle_location.* creates it). A secret left out on create is
// generated (16 alphanumeric characters) and shown once; afterwards it reads
// "*****", and the last path segment of url reads "*****" in every response.
// Filters combine fleet_ids AND fleet_refs; an absent or empty list admits
// every fleet. A second subscription with the same event, url and filters
// gets 409. Server.Push sends the deliveries (see its documentation and
// Config.Push*): gzip JSON envelopes signed with base64(HMAC-SHA256(secret,
// X-Catena-Timestamp + "." + uncompressed body)), retried on 5xx and
// timeouts, then parked in the subscription's DLQ until replay; after
// StaleAfter consecutive failed deliveries the subscription goes stale until
// activated. Events keep being queued while a subscription is paused or
// stale. WebhookFaults injects duplicate, reordered, lost, forged,
// stale-timestamped, oversized, gzip-bomb and wrongly encoded deliveries;
// WebhookStats and ForgedIDs are the ground truth.
package catenasim
