package catena

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Endpoint path templates of the Notifications API (webhook subscriptions),
// as reported to Observer and in errors.
const (
	EndpointWebhooks        = "/v2/notifications/webhooks"
	EndpointWebhook         = "/v2/notifications/webhooks/{webhook_id}"
	EndpointWebhookActivate = "/v2/notifications/webhooks/{webhook_id}/activate"
	EndpointWebhookPause    = "/v2/notifications/webhooks/{webhook_id}/pause"
	EndpointWebhookReplay   = "/v2/notifications/webhooks/{webhook_id}/replay"
)

// Subscription status values (WebhookStatusEnum). A subscription goes stale
// when Catena's circuit breaker trips on failing deliveries, and paused
// through PauseWebhook; ActivateWebhook brings either back.
const (
	WebhookActive  = "active"
	WebhookPaused  = "paused"
	WebhookStale   = "stale"
	WebhookDeleted = "deleted"
)

// EventVehicleLocationAdded fires each time a new GPS location is ingested
// for a vehicle of a connected fleet.
const EventVehicleLocationAdded = "vehicle_location.added"

// MaskedSecret is how every API response after the create shows a
// subscription's secret.
const MaskedSecret = "*****"

const (
	maxWebhookURL    = 2083 // WebhookCreate.url maxLength
	minWebhookSecret = 12   // WebhookUpdate.secret minLength
)

// ErrOutcomeUnknown is wrapped by CreateWebhook when the request may have
// reached the API but no answer says what happened: a 5xx, a timeout, a
// connection lost after sending, or a 2xx whose body could not be read. The
// subscription may exist. Such failures are not retried: Catena allows one
// subscription per event, URL and filters, so a second create cannot add a
// useful one, and the secret Catena generates is shown only in the first
// answer. List the subscriptions before creating it again.
var ErrOutcomeUnknown = errors.New("catena: outcome unknown: the request may have been carried out")

// WebhookFilters limits a subscription to some fleets. How fleet_ids and
// fleet_refs combine (AND or OR) is not documented; empty lists are not sent.
type WebhookFilters struct {
	FleetIDs  []string `json:"fleet_ids,omitempty"`  // Catena fleet ids (uuid)
	FleetRefs []string `json:"fleet_refs,omitempty"` // your fleet references, as given at invitation time
}

func (f *WebhookFilters) empty() bool {
	return f == nil || len(f.FleetIDs) == 0 && len(f.FleetRefs) == 0
}

// WebhookCreate is the body of POST /v2/notifications/webhooks. URL and
// EventName are required. Without Filters the subscription covers every
// fleet that shares data with you. With a nil Secret Catena generates one and
// returns it, once, in the create answer.
type WebhookCreate struct {
	URL string `json:"url"` // your http(s) endpoint, at most 2083 characters
	// EventName is an event, e.g. vehicle_location.added, or a catch-all
	// <resource>.* that subscribes to every action of the resource.
	EventName string          `json:"event_name"`
	Filters   *WebhookFilters `json:"filters,omitempty"`
	Secret    *string         `json:"secret,omitempty"` // at least 12 characters; never logged
}

func (in *WebhookCreate) validate() error {
	if err := CheckWebhookURL(in.URL); err != nil {
		return fmt.Errorf("url %q: %w", redactURL(in.URL), err)
	}
	if err := CheckEventName(in.EventName); err != nil {
		return fmt.Errorf("event_name %q: %w", in.EventName, err)
	}
	if in.Filters != nil {
		for i, id := range in.Filters.FleetIDs {
			if !isUUID(id) {
				return fmt.Errorf("filters.fleet_ids[%d] %q: not a uuid", i, id)
			}
		}
		for i, ref := range in.Filters.FleetRefs {
			if strings.TrimSpace(ref) == "" {
				return fmt.Errorf("filters.fleet_refs[%d] %q: empty", i, ref)
			}
		}
	}
	if in.Secret != nil {
		// The value is a credential: name its length, never the value.
		if n := utf8.RuneCountInString(*in.Secret); n < minWebhookSecret {
			return fmt.Errorf("secret: %d characters: use at least %d (the API's minimum when a secret is updated; leave it nil to have Catena generate one)", n, minWebhookSecret)
		}
	}
	return nil
}

// CheckWebhookURL reports why s is not a URL the API accepts as a webhook
// endpoint: empty, longer than 2083 characters, not absolute http(s) with a
// host. The error does not repeat s.
func CheckWebhookURL(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if n := utf8.RuneCountInString(s); n > maxWebhookURL {
		return fmt.Errorf("%d characters: at most %d", n, maxWebhookURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %v", err.(*url.Error).Err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("scheme must be http or https")
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	return nil
}

var eventNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*\.([a-z][a-z0-9_]*|\*)$`)

// CheckEventName reports why s is not an event name: <resource>.<action>
// (vehicle_location.added) or a catch-all <resource>.* (vehicle_location.*).
// The resource and action themselves are left to the API.
func CheckEventName(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if !eventNameRE.MatchString(s) {
		return errors.New("must be <resource>.<action> or the catch-all <resource>.*, e.g. " + EventVehicleLocationAdded)
	}
	return nil
}

// CheckWebhookStatus reports why s is not a subscription status.
func CheckWebhookStatus(s string) error {
	switch s {
	case WebhookActive, WebhookPaused, WebhookStale, WebhookDeleted:
		return nil
	}
	return fmt.Errorf("must be %s, %s, %s or %s", WebhookActive, WebhookPaused, WebhookStale, WebhookDeleted)
}

// CheckWebhookID reports why s is not a subscription id (a uuid).
func CheckWebhookID(s string) error {
	if s == "" {
		return errors.New("required")
	}
	if !isUUID(s) {
		return errors.New("not a uuid")
	}
	return nil
}

// isUUID reports whether s is a uuid in the canonical 8-4-4-4-12 hex form.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}

// Webhook is the create answer for one subscription. Nullable fields are
// pointers.
//
// Secret holds the secret in clear only in this answer, and only when Catena
// generated it (see GeneratedSecret); it signs every delivery. LogValue
// leaves it out.
type Webhook struct {
	ID        string          `json:"id"` // the webhook_id of the management calls and of each delivery
	PartnerID string          `json:"partner_id"`
	URL       string          `json:"url"` // its path may come back masked
	EventName string          `json:"event_name"`
	Filters   *WebhookFilters `json:"filters"`
	Secret    *string         `json:"secret"`
	Status    string          `json:"status"`
	CreatedAt *time.Time      `json:"created_at"`
	UpdatedAt *time.Time      `json:"updated_at"`
	DeletedAt *time.Time      `json:"deleted_at"`
}

// GeneratedSecret returns the secret when the answer carries it in clear:
// neither null, empty nor masked ("*****").
func (w *Webhook) GeneratedSecret() (string, bool) {
	if w.Secret == nil || isMasked(*w.Secret) {
		return "", false
	}
	return *w.Secret, true
}

func isMasked(s string) bool { return strings.Trim(s, "*") == "" }

// LogValue implements slog.LogValuer without the secret.
func (w Webhook) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", w.ID),
		slog.String("event_name", w.EventName),
		slog.String("status", w.Status),
		slog.String("url", redactURL(w.URL)),
	)
}

// WebhookRead is a subscription as list, get, activate and pause return it.
// URL and Secret are untyped in the contract and kept as sent: the URL comes
// back partially redacted and the secret masked (see URLText).
type WebhookRead struct {
	ID        string          `json:"id"`
	URL       json.RawMessage `json:"url"`
	EventName string          `json:"event_name"`
	Filters   *WebhookFilters `json:"filters,omitempty"`
	Secret    json.RawMessage `json:"secret"`
	Status    string          `json:"status"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// URLText returns URL as text: the string when it is a JSON string, the raw
// JSON otherwise.
func (w *WebhookRead) URLText() string { return rawText(w.URL) }

// SecretMasked reports whether Secret is null or masked, that is carries no
// usable secret.
func (w *WebhookRead) SecretMasked() bool {
	if len(w.Secret) == 0 || bytes.Equal(w.Secret, []byte("null")) {
		return true
	}
	var s string
	return json.Unmarshal(w.Secret, &s) == nil && isMasked(s)
}

// LogValue implements slog.LogValuer without the secret.
func (w WebhookRead) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", w.ID),
		slog.String("event_name", w.EventName),
		slog.String("status", w.Status),
		slog.String("url", redactURL(w.URLText())),
	)
}

func rawText(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}

// WebhookQuery holds the filters of GET /v2/notifications/webhooks.
type WebhookQuery struct {
	EventName string // "" for every event
	Status    string // "" or a status (WebhookActive, WebhookStale, ...)
	Size      int    // page size, 1..1000; 0 means 1000 (not the API's 300)
}

func (q *WebhookQuery) encode() (string, error) {
	size, err := pageSize(q.Size)
	if err != nil {
		return "", err
	}
	var b queryBuilder
	if q.EventName != "" {
		if err := CheckEventName(q.EventName); err != nil {
			return "", fmt.Errorf("event_name %q: %w", q.EventName, err)
		}
		b.add("event_name", q.EventName)
	}
	if q.Status != "" {
		if err := CheckWebhookStatus(q.Status); err != nil {
			return "", fmt.Errorf("status %q: %w", q.Status, err)
		}
		b.add("status", q.Status)
	}
	b.add("size", fmt.Sprint(size))
	return b.String(), nil
}

// CreateWebhook POSTs /v2/notifications/webhooks. A single event creates one
// subscription; a catch-all <resource>.* one per action of the resource, and
// the API then answers with a list. Either way the result holds every
// subscription created.
//
// The input is checked before anything is sent. Unlike CreateInvitation,
// this create is not idempotent in effect: the generated secret is shown
// only in the first answer, and a repeat of a create that went through meets
// the one-subscription-per-event-URL-and-filters rule with an undocumented
// answer. So it is retried only when the API certainly did not act on it: a
// 429, a 401 answered by renewing the token, a connection that could not be
// opened. Any other failure that may have reached the API (5xx, a timeout, a
// connection lost, an unreadable 2xx) returns an error wrapping
// ErrOutcomeUnknown after one attempt.
func (c *Client) CreateWebhook(ctx context.Context, in WebhookCreate) ([]Webhook, error) {
	const op = "create_webhook"
	if err := in.validate(); err != nil {
		return nil, fmt.Errorf("%s: invalid subscription: %w", op, err)
	}
	if in.Filters.empty() {
		in.Filters = nil // what empty lists mean is not documented: send none
	}
	body, err := json.Marshal(&in)
	if err != nil {
		return nil, fmt.Errorf("%s: encode body: %w", op, err)
	}
	r := request{op: op, method: "POST", endpoint: EndpointWebhooks, url: c.baseURL + EndpointWebhooks, body: body}
	var out []Webhook
	r.once = true
	err = c.do(ctx, &r, func(_ int, b []byte) error {
		b = bytes.TrimSpace(b)
		switch {
		case len(b) > 0 && b[0] == '[':
			if err := json.Unmarshal(b, &out); err != nil {
				return err
			}
			if len(out) == 0 {
				return errors.New("the API answered an empty list: no subscription was reported created")
			}
		case len(b) > 0 && b[0] == '{':
			var w Webhook
			if err := json.Unmarshal(b, &w); err != nil {
				return err
			}
			out = []Webhook{w}
		default:
			return fmt.Errorf("want a subscription object or a list, got %q", truncate(string(b), 64))
		}
		for i := range out {
			if out[i].ID == "" {
				return fmt.Errorf("subscription %d of %d has no id", i+1, len(out))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s for event %q to %s: %w", op, in.EventName, redactURL(in.URL), err)
	}
	return out, nil
}

// Webhooks pages through GET /v2/notifications/webhooks starting at cursor
// ("" = first page). The page has no total. An invalid query (event name,
// status, size) is returned by the first Next.
func (c *Client) Webhooks(q WebhookQuery, cursor string) *Pager[WebhookRead] {
	const op = "list_webhooks"
	query, err := q.encode()
	if err != nil {
		err = fmt.Errorf("%s: invalid query: %w", op, err)
	}
	return newPager(op, cursor, err, func(ctx context.Context, cur string) (*Page[WebhookRead], error) {
		return getPage[WebhookRead](ctx, c, op, EndpointWebhooks, query, cur)
	})
}

// Webhook GETs one subscription.
func (c *Client) Webhook(ctx context.Context, id string) (*WebhookRead, error) {
	return c.webhookCall(ctx, "get_webhook", "GET", EndpointWebhook, "", id)
}

// ActivateWebhook POSTs /activate: a paused or stale subscription delivers
// again. Events that went to the dead-letter queue meanwhile are not
// re-sent; see ReplayWebhook. Retried like a GET: activating twice is
// activating once.
func (c *Client) ActivateWebhook(ctx context.Context, id string) (*WebhookRead, error) {
	return c.webhookCall(ctx, "activate_webhook", "POST", EndpointWebhookActivate, "/activate", id)
}

// PauseWebhook POSTs /pause: the subscription stops delivering until
// activated. Whether events are dropped or kept meanwhile is not documented.
// Retried like a GET.
func (c *Client) PauseWebhook(ctx context.Context, id string) (*WebhookRead, error) {
	return c.webhookCall(ctx, "pause_webhook", "POST", EndpointWebhookPause, "/pause", id)
}

// ReplayWebhook POSTs /replay: Catena re-sends, asynchronously, the events
// of the subscription's dead-letter queue (kept 14 days). The API answers
// 202 with an empty body. It is retried like a GET: a repeated replay re-sends
// at most what is still in the queue, and deliveries are at least once
// anyway (receivers deduplicate on the envelope id).
func (c *Client) ReplayWebhook(ctx context.Context, id string) error {
	const op = "replay_webhook"
	if err := CheckWebhookID(id); err != nil {
		return fmt.Errorf("%s: webhook_id %q: %w", op, id, err)
	}
	r := request{op: op, method: "POST", endpoint: EndpointWebhookReplay, url: c.baseURL + EndpointWebhooks + "/" + id + "/replay"}
	if err := c.do(ctx, &r, func(int, []byte) error { return nil }); err != nil {
		return fmt.Errorf("%s %s: %w", op, id, err)
	}
	return nil
}

// webhookCall sends a bodiless request on one subscription and decodes the
// WebhookRead it answers.
func (c *Client) webhookCall(ctx context.Context, op, method, endpoint, suffix, id string) (*WebhookRead, error) {
	if err := CheckWebhookID(id); err != nil {
		return nil, fmt.Errorf("%s: webhook_id %q: %w", op, id, err)
	}
	r := request{op: op, method: method, endpoint: endpoint, url: c.baseURL + EndpointWebhooks + "/" + id + suffix}
	var w WebhookRead
	err := c.do(ctx, &r, func(_ int, b []byte) error { return json.Unmarshal(b, &w) })
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, id, err)
	}
	return &w, nil
}

// notSent reports whether a transport error happened before the request
// could be sent: the connection could not be opened (DNS, refused). Go's
// transport already retries a request it wrote nothing of.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
