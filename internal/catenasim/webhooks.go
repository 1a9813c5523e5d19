package catenasim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Notifications API paths.
const (
	WebhooksPath = "/v2/notifications/webhooks"
)

// Webhook event names the simulator accepts on create.
const (
	EventVehicleLocationAdded = "vehicle_location.added"
	EventVehicleLocationAll   = "vehicle_location.*" // catch-all: one subscription per action
)

// Webhook subscription statuses.
const (
	WebhookActive  = "active"
	WebhookPaused  = "paused"
	WebhookStale   = "stale"
	WebhookDeleted = "deleted"
)

// maskedSecret is how every response but the create response shows a secret.
const maskedSecret = "*****"

// Hash tags of the webhook side; far above the model's tags so no quantity
// shares bits with one of them.
const (
	tagWebhook uint64 = 1<<20 + iota
	tagWebhookSecret
	tagEnvelope
	tagRequest
	tagForged
)

const curWebhook byte = 'W'

// ref is one point: vehicle index and tick.
type ref struct {
	vi int32
	k  int64
}

// batch is one delivery: up to PushBatch records.
type batch struct {
	id       string // envelope id, kept across retries, duplicates and replays
	refs     []ref
	data     []byte // the JSON array of records
	attempts int    // attempts made so far (X-Delivery-Attempt of the last)
	lastReq  string // X-Request-ID of the last attempt
	replay   bool   // queued again by a replay request
}

// subscription is one webhook subscription and its push state. Guarded by
// webhooks.mu.
type subscription struct {
	seq       int
	id        string
	url       string
	event     string
	secret    string
	filters   *webhookFilters // nil: filters null
	fleetIDs  set
	fleetRefs set
	status    string
	createdAt time.Time
	updatedAt time.Time
	deletedAt *time.Time

	scanned  int64    // sim ns: points visible at or before this are queued
	pending  []ref    // visible, not yet batched
	replayQ  []*batch // sent before pending: replayed or interrupted batches
	dlq      []*batch
	held     *batch // Reorder: sent after the next batch
	heldAt   time.Time
	last     *batch // last acknowledged batch (StaleTimestamp re-sends it)
	failures int    // consecutive failed deliveries
	busy     bool   // a delivery goroutine runs
}

func (sub *subscription) match(v *vehicle) bool {
	return (len(sub.fleetIDs) == 0 || sub.fleetIDs.has(v.fleet.ID)) &&
		(len(sub.fleetRefs) == 0 || sub.fleetRefs.has(v.fleet.Ref))
}

type webhookFilters struct {
	FleetIDs  []string `json:"fleet_ids"`
	FleetRefs []string `json:"fleet_refs"`
}

// webhooks is the in-memory store of subscriptions and the push counters.
type webhooks struct {
	mu     sync.Mutex
	list   []*subscription
	byID   map[string]*subscription
	forged []string

	deliveryNo atomic.Int64 // fresh batches so far: drives WebhookFaults
	envSeq     atomic.Uint64
	reqSeq     atomic.Uint64

	deliveries, records, attempts, acked, retried, dlq, replayed, forgedN, extra, staled atomic.Int64

	faults [numWebhookFaults]atomic.Int64
}

func (wh *webhooks) init() { wh.byID = map[string]*subscription{} }

// webhookJSON is the wire Webhook (create response).
type webhookJSON struct {
	ID        string          `json:"id"`
	PartnerID string          `json:"partner_id"`
	URL       string          `json:"url"`
	EventName string          `json:"event_name"`
	Filters   *webhookFilters `json:"filters"`
	Secret    *string         `json:"secret"`
	Status    string          `json:"status"`
	CreatedAt apiTime         `json:"created_at"`
	UpdatedAt apiTime         `json:"updated_at"`
	DeletedAt *apiTime        `json:"deleted_at"`
}

// webhookRead is the wire WebhookRead (list, get, pause, activate).
type webhookRead struct {
	ID        string          `json:"id"`
	URL       string          `json:"url"`
	EventName string          `json:"event_name"`
	Filters   *webhookFilters `json:"filters"`
	Secret    string          `json:"secret"`
	Status    string          `json:"status"`
	CreatedAt apiTime         `json:"created_at"`
	UpdatedAt apiTime         `json:"updated_at"`
}

// webhookPage is the wire cursor page of WebhookRead: no total.
type webhookPage struct {
	Items                []webhookRead `json:"items"`
	CurrentPage          *string       `json:"current_page"`
	CurrentPageBackwards *string       `json:"current_page_backwards"`
	PreviousPage         *string       `json:"previous_page"`
	NextPage             *string       `json:"next_page"`
}

// maskURL redacts the last path segment, as the docs' samples do:
// https://your-domain.com/webhooks/*****. The query is dropped.
func maskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return maskedSecret
	}
	p := strings.TrimSuffix(u.Path, "/")
	i := strings.LastIndexByte(p, '/')
	if p == "" || i < 0 {
		return u.Scheme + "://" + u.Host + u.Path
	}
	return u.Scheme + "://" + u.Host + p[:i+1] + maskedSecret
}

func (sub *subscription) read() webhookRead {
	return webhookRead{ID: sub.id, URL: maskURL(sub.url), EventName: sub.event, Filters: sub.filters,
		Secret: maskedSecret, Status: sub.status, CreatedAt: apiTime(sub.createdAt), UpdatedAt: apiTime(sub.updatedAt)}
}

const secretChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newSecret returns a deterministic 16-character alphanumeric secret, the
// shape of the Quick Start's sample.
func (s *Server) newSecret(n uint64) string {
	b := make([]byte, 16)
	for i := range b {
		b[i] = secretChars[hash3(s.seed, tagWebhookSecret, n, uint64(i))%uint64(len(secretChars))]
	}
	return string(b)
}

// parseWebhookCreate validates a WebhookCreate body.
func parseWebhookCreate(body []byte, e *verrs) (u, event string, filters *webhookFilters, secret *string) {
	var m map[string]json.RawMessage
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&m); err != nil || m == nil {
		e.add("body", inputOf(body), "json_invalid", "JSON decode error: body must be a JSON object")
		return
	}
	isNull := func(raw json.RawMessage) bool { return raw == nil || string(raw) == "null" }
	if raw, ok := m["url"]; !ok {
		e.add("body.url", "", "missing", "Field required")
	} else if err := json.Unmarshal(raw, &u); err != nil || isNull(raw) {
		e.add("body.url", inputOf(raw), "string_type", "Input should be a valid string")
	} else {
		switch pu, err := url.Parse(u); {
		case len(u) < 1:
			e.add("body.url", u, "string_too_short", "String should have at least 1 character")
		case len(u) > 2083:
			e.add("body.url", inputOf(json.RawMessage(u)), "string_too_long", "String should have at most 2083 characters")
		case err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "":
			e.add("body.url", u, "url_parsing", "Input should be a valid URL, relative URL without a base")
		}
	}
	if raw, ok := m["event_name"]; !ok {
		e.add("body.event_name", "", "missing", "Field required")
	} else if err := json.Unmarshal(raw, &event); err != nil || isNull(raw) {
		e.add("body.event_name", inputOf(raw), "string_type", "Input should be a valid string")
	} else if event != EventVehicleLocationAdded && event != EventVehicleLocationAll {
		e.add("body.event_name", event, "enum", "Input should be '%s' or '%s' (the simulator serves vehicle locations only)",
			EventVehicleLocationAdded, EventVehicleLocationAll)
	}
	if raw, ok := m["filters"]; ok && !isNull(raw) {
		var fm map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fm); err != nil || fm == nil {
			e.add("body.filters", inputOf(raw), "model_type", "Input should be a valid dictionary or object")
		} else {
			filters = &webhookFilters{}
			if r, ok := fm["fleet_ids"]; ok && !isNull(r) {
				var ids []string
				if err := json.Unmarshal(r, &ids); err != nil {
					e.add("body.filters.fleet_ids", inputOf(r), "list_type", "Input should be a valid list")
				}
				for i, id := range ids {
					if u, ok := parseUUID(id); ok {
						filters.FleetIDs = append(filters.FleetIDs, u)
					} else {
						e.add("body.filters.fleet_ids."+itoa(i), id, "uuid_parsing", "Input should be a valid UUID, invalid character or length")
					}
				}
				if filters.FleetIDs == nil {
					filters.FleetIDs = []string{}
				}
			}
			if r, ok := fm["fleet_refs"]; ok && !isNull(r) {
				if err := json.Unmarshal(r, &filters.FleetRefs); err != nil {
					e.add("body.filters.fleet_refs", inputOf(r), "list_type", "Input should be a valid list of strings")
				}
			}
		}
	}
	if raw, ok := m["secret"]; ok && !isNull(raw) {
		var sec string
		if err := json.Unmarshal(raw, &sec); err != nil {
			e.add("body.secret", inputOf(raw), "string_type", "Input should be a valid string")
		} else if sec == "" {
			e.add("body.secret", "", "string_too_short", "String should have at least 1 character")
		} else {
			secret = &sec
		}
	}
	return
}

func itoa(i int) string { return string(appendInt(nil, int64(i))) }

// filterKey is the canonical form of filters for the uniqueness rule.
func filterKey(f *webhookFilters) string {
	if f == nil {
		return ""
	}
	ids, refs := slices.Clone(f.FleetIDs), slices.Clone(f.FleetRefs)
	slices.Sort(ids)
	slices.Sort(refs)
	return strings.Join(ids, ",") + "|" + strings.Join(refs, ",")
}

// handleWebhookCreate creates a subscription (200 Webhook), or one per
// action for a catch-all (200, an array). A second subscription with the
// same event, url and filters is refused with 409.
func (s *Server) handleWebhookCreate(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeAPIError(w, http.StatusBadRequest, "request body too large or unreadable")
		return
	}
	var e verrs
	u, event, filters, secret := parseWebhookCreate(body, &e)
	if len(e) > 0 {
		write422(w, e)
		return
	}
	events := []string{event}
	if event == EventVehicleLocationAll {
		events = []string{EventVehicleLocationAdded}
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	wh := &s.wh
	wh.mu.Lock()
	defer wh.mu.Unlock()
	key := filterKey(filters)
	for _, ev := range events {
		for _, sub := range wh.list {
			if sub.status != WebhookDeleted && sub.event == ev && sub.url == u && filterKey(sub.filters) == key {
				writeAPIError(w, http.StatusConflict, "A webhook for this event, url and filters already exists: "+sub.id)
				return
			}
		}
	}
	out := make([]webhookJSON, 0, len(events))
	for _, ev := range events {
		n := uint64(len(wh.list))
		sub := &subscription{
			seq: len(wh.list), id: s.uuidFor(tagWebhook, n, 0), url: u, event: ev, filters: filters,
			status: WebhookActive, createdAt: now, updatedAt: now, scanned: now.UnixNano(),
		}
		if secret != nil {
			sub.secret = *secret
		} else {
			sub.secret = s.newSecret(n)
		}
		if filters != nil {
			sub.fleetIDs, sub.fleetRefs = toSet(filters.FleetIDs), toSet(filters.FleetRefs)
		}
		wh.list = append(wh.list, sub)
		wh.byID[sub.id] = sub
		sec := sub.secret
		out = append(out, webhookJSON{ID: sub.id, PartnerID: s.partnerID, URL: maskURL(u), EventName: ev,
			Filters: filters, Secret: &sec, Status: sub.status, CreatedAt: apiTime(now), UpdatedAt: apiTime(now)})
	}
	if event == EventVehicleLocationAll {
		writeJSON(w, http.StatusOK, out)
		return
	}
	writeJSON(w, http.StatusOK, out[0])
}

// handleWebhookList lists subscriptions in creation order. Deleted ones are
// listed only with status=deleted.
func (s *Server) handleWebhookList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var e verrs
	size := qInt(q, "size", 300, 1, 1000, &e)
	status, hasStatus := last(q, "status")
	if hasStatus {
		switch status {
		case WebhookActive, WebhookPaused, WebhookStale, WebhookDeleted:
		default:
			e.add("query.status", status, "enum", "Input should be 'active', 'paused', 'stale' or 'deleted'")
		}
	}
	event, hasEvent := last(q, "event_name")
	if len(e) > 0 {
		write422(w, e)
		return
	}
	var c *cursor
	if cur, ok := last(q, "cursor"); ok && cur != "" {
		cc, err := s.decodeCursor(cur, curWebhook)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Invalid cursor value")
			return
		}
		c = &cc
	}
	wh := &s.wh
	wh.mu.Lock()
	defer wh.mu.Unlock()
	list := wh.list
	sq := seq{lo: 0, hi: int64(len(list)), incl: func(i int64) bool {
		sub := list[i]
		if hasEvent && sub.event != event {
			return false
		}
		if hasStatus {
			return sub.status == status
		}
		return sub.status != WebhookDeleted
	}}
	pg := s.page(sq, curWebhook, c, size, 0)
	items := make([]webhookRead, 0, len(pg.pos))
	for _, i := range pg.pos {
		items = append(items, list[i].read())
	}
	writeJSON(w, http.StatusOK, webhookPage{Items: items, CurrentPage: nullable(pg.cur),
		CurrentPageBackwards: nullable(pg.curBack), PreviousPage: nullable(pg.prev), NextPage: nullable(pg.next)})
}

// handleWebhookItem serves GET and DELETE of {id} and POST of {id}/activate,
// {id}/pause and {id}/replay. The route has checked method and action.
func (s *Server) handleWebhookItem(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, WebhooksPath+"/")
	raw, action, _ := strings.Cut(rest, "/")
	id, ok := parseUUID(raw)
	if !ok {
		var e verrs
		e.add("path.webhook_id", raw, "uuid_parsing", "Input should be a valid UUID, invalid character or length")
		write422(w, e)
		return
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	wh := &s.wh
	wh.mu.Lock()
	defer wh.mu.Unlock()
	sub := wh.byID[id]
	if sub == nil || sub.status == WebhookDeleted {
		writeAPIError(w, http.StatusNotFound, "Webhook not found")
		return
	}
	switch {
	case action == "" && r.Method == http.MethodGet:
	case action == "" && r.Method == http.MethodDelete:
		sub.status = WebhookDeleted
		sub.updatedAt, sub.deletedAt = now, &now
		sub.pending, sub.replayQ, sub.dlq, sub.held = nil, nil, nil, nil
		w.WriteHeader(http.StatusNoContent)
		return
	case action == "activate":
		if sub.status != WebhookActive {
			sub.status, sub.updatedAt = WebhookActive, now
		}
		sub.failures = 0
	case action == "pause":
		if sub.status != WebhookPaused {
			sub.status, sub.updatedAt = WebhookPaused, now
		}
	case action == "replay":
		for _, b := range sub.dlq {
			b.replay = true
		}
		sub.replayQ = append(sub.replayQ, sub.dlq...)
		sub.dlq = nil
		writeJSON(w, http.StatusAccepted, struct{}{})
		return
	}
	writeJSON(w, http.StatusOK, sub.read())
}

// webhookRoute returns the handler of a path under WebhooksPath, nil for an
// unknown path, or notAllowed when the path exists but not for method.
func (s *Server) webhookRoute(method, path string) (h http.HandlerFunc, known bool) {
	if path == WebhooksPath {
		switch method {
		case http.MethodGet:
			return s.handleWebhookList, true
		case http.MethodPost:
			return s.handleWebhookCreate, true
		}
		return nil, true
	}
	rest, ok := strings.CutPrefix(path, WebhooksPath+"/")
	if !ok || rest == "" {
		return nil, false
	}
	id, action, _ := strings.Cut(rest, "/")
	if id == "" || strings.Contains(action, "/") {
		return nil, false
	}
	switch action {
	case "":
		if method == http.MethodGet || method == http.MethodDelete {
			return s.handleWebhookItem, true
		}
		return nil, true
	case "activate", "pause", "replay":
		if method == http.MethodPost {
			return s.handleWebhookItem, true
		}
		return nil, true
	}
	return nil, false
}
