package catenasim

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// receiverBound is the receiver's limit on a decompressed body.
const receiverBound = 16 << 20

// delivery is what the test receiver saw of one request.
type delivery struct {
	seq        int // order of arrival
	header     http.Header
	encoding   string
	tooBig     bool // the decompressed body exceeded receiverBound
	body       []byte
	sigOK      bool
	tsAge      time.Duration // simulator now minus X-Catena-Timestamp
	env        envelope
	envOK      bool
	recordIDs  []string
	createdAts []time.Time
}

// accepted: what a careful receiver would process.
func (d *delivery) accepted() bool {
	return d.encoding == "gzip" && !d.tooBig && d.sigOK && d.tsAge <= 5*time.Minute && d.envOK
}

type envelope struct {
	Version         string           `json:"version"`
	EventName       string           `json:"event_name"`
	Data            []map[string]any `json:"data"`
	WebhookID       string           `json:"webhook_id"`
	Timestamp       string           `json:"timestamp"`
	ID              string           `json:"id"`
	DeliveryAttempt int              `json:"delivery_attempt"`
}

// receiver is a webhook endpoint that verifies with its own code and
// records every request.
type receiver struct {
	t     *testing.T
	ts    *httptest.Server
	clock Clock

	mu      sync.Mutex
	secrets map[string]string // webhook id -> secret
	got     []*delivery
	ids     map[string]int // record id -> accepted deliveries carrying it
	// arrived counts the requests as they arrive, before their bodies
	// are read: a request that reads and decodes a large body slowly must
	// not be counted after the retry that follows it.
	arrived int
	// status answers request n (0-based, in order of arrival); nil = 202.
	status func(n int, d *delivery) int
}

func newReceiver(t *testing.T, clock Clock) *receiver {
	rc := &receiver{t: t, clock: clock, secrets: map[string]string{}, ids: map[string]int{}}
	rc.ts = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.ts.Close)
	return rc
}

func verifySig(secret, ts string, body []byte, sig string) bool {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts + "."))
	m.Write(body)
	want := base64.StdEncoding.EncodeToString(m.Sum(nil))
	return hmac.Equal([]byte(want), []byte(sig))
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	n := rc.arrived
	rc.arrived++
	rc.mu.Unlock()
	d := &delivery{seq: n, header: r.Header.Clone(), encoding: r.Header.Get("Content-Encoding")}
	raw := http.MaxBytesReader(w, r.Body, 4<<20)
	var rd io.Reader = raw
	if d.encoding == "gzip" {
		zr, err := gzip.NewReader(raw)
		if err == nil {
			rd = zr
		} else {
			rd = bytes.NewReader(nil)
		}
	}
	body, _ := io.ReadAll(io.LimitReader(rd, receiverBound+1))
	if len(body) > receiverBound {
		d.tooBig = true
	} else {
		d.body = body
	}
	rc.mu.Lock()
	secret := rc.secrets[r.Header.Get("X-Webhook-ID")]
	rc.mu.Unlock()
	ts := r.Header.Get("X-Catena-Timestamp")
	if !d.tooBig {
		d.sigOK = verifySig(secret, ts, d.body, r.Header.Get("X-Catena-Signature"))
		dec := json.NewDecoder(bytes.NewReader(d.body))
		dec.UseNumber()
		d.envOK = dec.Decode(&d.env) == nil
		for _, rec := range d.env.Data {
			id, _ := rec["id"].(string)
			d.recordIDs = append(d.recordIDs, id)
			c, _ := time.Parse(time.RFC3339Nano, rec["created_at"].(string))
			d.createdAts = append(d.createdAts, c)
		}
	}
	if t, err := time.Parse(time.RFC3339, ts); err == nil {
		d.tsAge = rc.clock.Now().Sub(t)
	} else {
		d.tsAge = time.Hour
	}
	rc.mu.Lock()
	rc.got = append(rc.got, d)
	statusFn := rc.status
	rc.mu.Unlock()
	status := 202
	if statusFn != nil {
		status = statusFn(n, d)
	}
	rc.mu.Lock()
	// A sender that gave up (timeout) does not count it as delivered.
	if status < 300 && d.accepted() && r.Context().Err() == nil {
		for _, id := range d.recordIDs {
			rc.ids[id]++
		}
	}
	rc.mu.Unlock()
	w.WriteHeader(status)
}

// deliveries returns the requests read so far, in order of arrival.
func (rc *receiver) deliveries() []*delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ds := slices.Clone(rc.got)
	slices.SortFunc(ds, func(a, b *delivery) int { return a.seq - b.seq })
	return ds
}

func (rc *receiver) hasAll(ids []string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if rc.ids[id] == 0 {
			return false
		}
	}
	return true
}

// createWebhook subscribes rc (at path) and registers the secret.
func (h *harness) createWebhook(rc *receiver, path string, extra map[string]any) map[string]any {
	h.t.Helper()
	body := map[string]any{"url": rc.ts.URL + path, "event_name": EventVehicleLocationAdded}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	r := h.do("POST", WebhooksPath, b, true)
	if r.status != 200 {
		h.t.Fatalf("create: %d %s", r.status, r.body)
	}
	m := r.decode(h.t)
	rc.mu.Lock()
	rc.secrets[m["id"].(string)] = m["secret"].(string)
	rc.mu.Unlock()
	return m
}

// startPush runs Push until the test ends.
func startPush(t *testing.T, s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Push(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Push: %v", err)
		}
	})
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// advance moves the clock in steps, letting Push run in between.
func advance(clk *ManualClock, steps int, d time.Duration) {
	for range steps {
		clk.Advance(d)
		time.Sleep(3 * time.Millisecond)
	}
}

// expectedIDs are the ids of the points of the given fleets (nil = all)
// visible in (from, to].
func expectedIDs(s *Server, fleetRefs []string, from, to time.Time) []string {
	var out []string
	for _, v := range s.Vehicles() {
		if fleetRefs != nil && !slices.Contains(fleetRefs, v.FleetRef) {
			continue
		}
		for _, p := range s.Points(v.ID, from.Add(-s.cfg.Faults.LateBy-time.Hour), to.Add(time.Nanosecond)) {
			if p.VisibleAt.After(from) && !p.VisibleAt.After(to) {
				out = append(out, p.ID)
			}
		}
	}
	return out
}

func pushConfig() Config {
	return Config{Fleets: 2, VehiclesPerFleet: 3, ReportInterval: 10 * time.Second,
		PushInterval: 2 * time.Millisecond, PushBatch: 5, PushTimeout: time.Second, PushBackoff: 5 * time.Millisecond}
}

func TestWebhookAPI(t *testing.T) {
	h := newHarness(t, Config{})
	post := func(body string) response { return h.do("POST", WebhooksPath, []byte(body), true) }

	r := post(`{"url":"https://example.com/hooks/abc?x=1","event_name":"vehicle_location.added"}`)
	if r.status != 200 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	w := r.decode(t)
	id := w["id"].(string)
	if sec, _ := w["secret"].(string); !regexp.MustCompile(`^[A-Za-z0-9]{16}$`).MatchString(sec) {
		t.Fatalf("generated secret %q", w["secret"])
	}
	if w["url"] != "https://example.com/hooks/*****" || w["status"] != "active" || w["filters"] != nil ||
		w["partner_id"] == nil || w["event_name"] != "vehicle_location.added" {
		t.Fatalf("create response %s", r.body)
	}
	if r := post(`{"url":"https://example.com/hooks/abc?x=1","event_name":"vehicle_location.added"}`); r.status != 409 {
		t.Fatalf("duplicate create: %d %s", r.status, r.body)
	}
	r = post(`{"url":"https://example.com/b","event_name":"vehicle_location.*","secret":"my-own-secret-1","filters":{"fleet_refs":["fleet-001"]}}`)
	var arr []map[string]any
	if r.status != 200 || json.Unmarshal(r.body, &arr) != nil || len(arr) != 1 || arr[0]["secret"] != "my-own-secret-1" ||
		arr[0]["event_name"] != "vehicle_location.added" {
		t.Fatalf("catch-all: %d %s", r.status, r.body)
	}
	id2 := arr[0]["id"].(string)
	for _, bad := range []string{`{"event_name":"vehicle_location.added"}`, `{"url":"x","event_name":"vehicle_location.added"}`,
		`{"url":"https://e.com","event_name":"vehicle.added"}`, `{"url":"https://e.com","event_name":"vehicle_location.added","filters":{"fleet_ids":["nope"]}}`, `[]`} {
		if r := post(bad); r.status != 422 || r.decode(t)["message"] != "Invalid Request Body" {
			t.Fatalf("%s: %d %s", bad, r.status, r.body)
		}
	}

	// List: cursor pages without total, secrets masked.
	r = h.get(WebhooksPath + "?size=1")
	pg := r.decode(t)
	if _, ok := pg["total"]; ok || r.status != 200 {
		t.Fatalf("list %d %s", r.status, r.body)
	}
	items := pg["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != id || items[0].(map[string]any)["secret"] != "*****" || pg["next_page"] == nil {
		t.Fatalf("page 1 %s", r.body)
	}
	r = h.get(WebhooksPath + "?size=1&cursor=" + pg["next_page"].(string))
	pg = r.decode(t)
	if items := pg["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id2 || pg["next_page"] != nil {
		t.Fatalf("page 2 %s", r.body)
	}
	if r := h.get(WebhooksPath + "?status=bogus"); r.status != 422 {
		t.Fatalf("bad status filter: %d", r.status)
	}

	// Pause, activate, replay, get, delete.
	r = h.do("POST", WebhooksPath+"/"+id+"/pause", nil, true)
	if r.status != 200 || r.decode(t)["status"] != "paused" {
		t.Fatalf("pause: %d %s", r.status, r.body)
	}
	r = h.get(WebhooksPath + "?status=paused")
	if items := r.decode(t)["items"].([]any); len(items) != 1 || items[0].(map[string]any)["id"] != id {
		t.Fatalf("status=paused: %s", r.body)
	}
	r = h.do("POST", WebhooksPath+"/"+id+"/activate", nil, true)
	if r.status != 200 || r.decode(t)["status"] != "active" {
		t.Fatalf("activate: %d %s", r.status, r.body)
	}
	if r := h.do("POST", WebhooksPath+"/"+id+"/replay", nil, true); r.status != 202 || string(r.body) != "{}" {
		t.Fatalf("replay: %d %s", r.status, r.body)
	}
	r = h.get(WebhooksPath + "/" + id)
	if g := r.decode(t); r.status != 200 || g["secret"] != "*****" || g["id"] != id {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	if r := h.do("DELETE", WebhooksPath+"/"+id, nil, true); r.status != 204 || len(r.body) != 0 {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := h.get(WebhooksPath + "/" + id); r.status != 404 || r.decode(t)["code"] != json.Number("404") {
		t.Fatalf("get deleted: %d %s", r.status, r.body)
	}
	if r := h.get(WebhooksPath + "/not-a-uuid"); r.status != 422 {
		t.Fatalf("bad id: %d", r.status)
	}
	if r := h.do("GET", WebhooksPath, nil, false); r.status != 401 {
		t.Fatalf("no token: %d", r.status)
	}
	if r := h.do("PUT", WebhooksPath+"/"+id2, nil, true); r.status != 405 {
		t.Fatalf("PUT: %d", r.status)
	}
	if r := h.do("POST", WebhooksPath+"/"+id2+"/nope", nil, true); r.status != 404 {
		t.Fatalf("unknown action: %d", r.status)
	}
	if n := h.s.Stats().Requests[EndpointWebhooks]; n < 15 {
		t.Fatalf("webhooks requests %d", n)
	}
}

func TestPushDeliversEveryPoint(t *testing.T) {
	cfg := pushConfig()
	cfg.Faults = Faults{LateEvery: 4, LateBy: time.Minute}
	h := newHarness(t, cfg)
	rc := newReceiver(t, h.clk)
	all := h.createWebhook(rc, "/all", nil)
	fleets := h.s.Fleets()
	one := h.createWebhook(rc, "/one", map[string]any{"filters": map[string]any{
		"fleet_ids": []string{fleets[1].ID}, "fleet_refs": []string{fleets[0].Ref, fleets[1].Ref}}})
	startPush(t, h.s)
	advance(h.clk, 30, 10*time.Second)
	now := h.clk.Now()
	want := expectedIDs(h.s, nil, t0, now)
	if len(want) < 150 {
		t.Fatalf("only %d points expected", len(want))
	}
	waitFor(t, "every point", func() bool { return rc.hasAll(want) && !busy(h.s) })

	// REST records of one vehicle, to compare with what was pushed.
	v := h.s.Vehicles()[4]
	items, _, _ := h.all(locPath + q("only_latest", "false", "vehicle_ids", v.ID, "from_datetime", ts(t0.Add(-time.Hour)), "to_datetime", ts(now)))
	rest := map[string]map[string]any{}
	for _, it := range items {
		rest[it["id"].(string)] = it
	}
	wantOne := slices.Collect(func(yield func(string) bool) {
		for _, id := range expectedIDs(h.s, []string{fleets[1].Ref}, t0, now) {
			yield(id)
		}
	})
	compared := 0
	for _, d := range rc.deliveries() {
		if !d.accepted() {
			t.Fatalf("a delivery was not accepted: %+v", d)
		}
		hd := d.header
		for k, v := range map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip", "User-Agent": "Catena-Webhook",
			"X-Event-Type": "vehicle_location.added", "X-Schema-Version": "1.0", "X-Source": "catena-notifications"} {
			if hd.Get(k) != v {
				t.Fatalf("%s = %q", k, hd.Get(k))
			}
		}
		if hd.Get("X-Webhook-ID") != d.env.WebhookID || hd.Get("X-Delivery-Attempt") != strconv.Itoa(d.env.DeliveryAttempt) ||
			d.env.Version != "1.0" || d.env.EventName != "vehicle_location.added" || len(d.env.Data) == 0 || len(d.env.Data) > 5 {
			t.Fatalf("envelope %+v, headers %v", d.env, hd)
		}
		if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(d.env.ID) {
			t.Fatalf("envelope id %q is not v7-shaped", d.env.ID)
		}
		for _, rec := range d.env.Data {
			for _, k := range []string{"source_data", "source_data_hash", "speed_unit", "odometer_unit", "fuel_value_unit", "oil_pressure_unit", "coolant_temperature_unit"} {
				if _, ok := rec[k]; ok {
					t.Fatalf("record has %s", k)
				}
			}
			if d.env.WebhookID == one["id"] && rec["fleet_ref"] != fleets[1].Ref {
				t.Fatalf("filtered subscription got fleet %v", rec["fleet_ref"])
			}
			if r := rest[rec["id"].(string)]; r != nil {
				for _, k := range []string{"source_data_hash", "speed_unit", "odometer_unit", "fuel_value_unit", "oil_pressure_unit", "coolant_temperature_unit"} {
					delete(r, k)
				}
				if !reflect.DeepEqual(r, rec) {
					t.Fatalf("webhook record differs from REST:\n%v\n%v", rec, r)
				}
				compared++
			}
		}
	}
	if compared < 10 {
		t.Fatalf("compared %d records with REST", compared)
	}
	// The filtered subscription got exactly its fleet's points.
	var gotOne []string
	for _, d := range rc.deliveries() {
		if d.env.WebhookID == one["id"] {
			gotOne = append(gotOne, d.recordIDs...)
		}
	}
	slices.Sort(gotOne)
	slices.Sort(wantOne)
	if !slices.Equal(slices.Compact(gotOne), wantOne) {
		t.Fatalf("filtered: got %d ids, want %d", len(gotOne), len(wantOne))
	}
	st := h.s.WebhookStats()
	if st.Acknowledged != st.Deliveries || st.DLQ != 0 || st.Records < int64(len(want)+len(wantOne)) {
		t.Fatalf("stats %+v", st)
	}
	_ = all
}

func TestPushRetries(t *testing.T) {
	cfg := pushConfig()
	cfg.PushTimeout = 50 * time.Millisecond
	cfg.PushBatch = 1000
	h := newHarness(t, cfg)
	rc := newReceiver(t, h.clk)
	rc.status = func(n int, d *delivery) int {
		switch n {
		case 0:
			time.Sleep(150 * time.Millisecond) // a timeout
			return 202
		case 1:
			return 503
		}
		return 202
	}
	h.createWebhook(rc, "/r", nil)
	h.clk.Advance(30 * time.Second)
	startPush(t, h.s)
	want := expectedIDs(h.s, nil, t0, h.clk.Now())
	waitFor(t, "delivery", func() bool { return rc.hasAll(want) && !busy(h.s) })
	ds := rc.deliveries()
	if len(ds) != 3 {
		t.Fatalf("%d requests, want 3", len(ds))
	}
	reqIDs := map[string]bool{}
	for i, d := range ds {
		if a := d.header.Get("X-Delivery-Attempt"); a != strconv.Itoa(i+1) || d.env.DeliveryAttempt != i+1 || d.env.ID != ds[0].env.ID || !d.sigOK {
			t.Fatalf("attempt %d: header %s, body %d, id %s", i+1, a, d.env.DeliveryAttempt, d.env.ID)
		}
		reqIDs[d.header.Get("X-Request-ID")] = true
	}
	if len(reqIDs) != 3 {
		t.Fatal("X-Request-ID repeated across attempts")
	}
	if st := h.s.WebhookStats(); st.Retried != 2 || st.Acknowledged != 1 || st.Attempts != 3 || st.DLQ != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPushDLQReplay(t *testing.T) {
	cfg := pushConfig()
	cfg.PushRetries = 1
	h := newHarness(t, cfg)
	rc := newReceiver(t, h.clk)
	var mu sync.Mutex
	down := true
	rc.status = func(int, *delivery) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 500
		}
		return 202
	}
	w := h.createWebhook(rc, "/d", nil)
	id := w["id"].(string)
	startPush(t, h.s)
	advance(h.clk, 3, 10*time.Second)
	want := expectedIDs(h.s, nil, t0, h.clk.Now())
	waitFor(t, "DLQ", func() bool { st := h.s.WebhookStats(); return st.DLQ*5 >= int64(len(want)) })
	mu.Lock()
	down = false
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	if rc.hasAll(want) {
		t.Fatal("DLQ delivered without replay")
	}
	if r := h.do("POST", WebhooksPath+"/"+id+"/replay", nil, true); r.status != 202 {
		t.Fatalf("replay %d", r.status)
	}
	waitFor(t, "replayed", func() bool { return rc.hasAll(want) && !busy(h.s) })
	if st := h.s.WebhookStats(); st.Replayed != st.DLQ || st.Retried != st.DLQ {
		t.Fatalf("stats %+v", st)
	}
}

func TestPushStale(t *testing.T) {
	cfg := pushConfig()
	cfg.PushRetries = 1
	cfg.StaleAfter = 3
	cfg.PushBatch = 1
	h := newHarness(t, cfg)
	rc := newReceiver(t, h.clk)
	var mu sync.Mutex
	down := true
	rc.status = func(int, *delivery) int {
		mu.Lock()
		defer mu.Unlock()
		if down {
			return 502
		}
		return 200
	}
	id := h.createWebhook(rc, "/s", nil)["id"].(string)
	h.clk.Advance(time.Minute)
	startPush(t, h.s)
	waitFor(t, "stale", func() bool { return h.get(WebhooksPath + "/" + id).decode(t)["status"] == "stale" })
	time.Sleep(30 * time.Millisecond)
	if n := len(rc.deliveries()); n != 6 {
		t.Fatalf("%d requests, want 3 deliveries x 2 attempts", n)
	}
	if r := h.get(WebhooksPath + "?status=stale"); len(r.decode(t)["items"].([]any)) != 1 {
		t.Fatalf("status=stale: %s", r.body)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	advance(h.clk, 2, 10*time.Second)
	if r := h.do("POST", WebhooksPath+"/"+id+"/activate", nil, true); r.status != 200 {
		t.Fatalf("activate %d", r.status)
	}
	h.do("POST", WebhooksPath+"/"+id+"/replay", nil, true)
	want := expectedIDs(h.s, nil, t0, h.clk.Now())
	waitFor(t, "resumed", func() bool { return rc.hasAll(want) && !busy(h.s) })
	if st := h.s.WebhookStats(); st.Staled != 1 || st.DLQ != 3 || st.Replayed != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestPushFaults(t *testing.T) {
	cases := []struct {
		name  string
		set   func(*WebhookFaults)
		kind  string
		check func(t *testing.T, s *Server, ds []*delivery) bool
	}{
		{"duplicate", func(f *WebhookFaults) { f.DuplicateEvery = 2 }, WebhookFaultDuplicate, func(t *testing.T, s *Server, ds []*delivery) bool {
			for i, d := range ds {
				for _, e := range ds[:i] {
					if d.accepted() && e.accepted() && d.env.ID == e.env.ID && d.env.DeliveryAttempt == e.env.DeliveryAttempt+1 &&
						d.header.Get("X-Request-ID") != e.header.Get("X-Request-ID") {
						return true
					}
				}
			}
			return false
		}},
		{"reorder", func(f *WebhookFaults) { f.ReorderEvery = 3 }, WebhookFaultReorder, func(t *testing.T, s *Server, ds []*delivery) bool {
			for i := 1; i < len(ds); i++ {
				if ds[i].createdAts[0].Before(ds[i-1].createdAts[0]) {
					return true
				}
			}
			return false
		}},
		{"forge", func(f *WebhookFaults) { f.ForgeEvery = 3 }, WebhookFaultForge, func(t *testing.T, s *Server, ds []*delivery) bool {
			forged := s.ForgedIDs()
			for _, d := range ds {
				if !d.sigOK && len(d.recordIDs) > 0 && !d.tooBig {
					for _, id := range d.recordIDs {
						if !slices.Contains(forged, id) {
							t.Fatalf("forged delivery carries %s, not in ForgedIDs", id)
						}
					}
					return true
				}
			}
			return false
		}},
		{"stale_timestamp", func(f *WebhookFaults) { f.StaleTimestampEvery = 3 }, WebhookFaultStaleTimestamp, func(t *testing.T, s *Server, ds []*delivery) bool {
			for i, d := range ds {
				if d.sigOK && d.tsAge >= 10*time.Minute {
					for _, e := range ds[:i] {
						if e.header.Get("X-Request-ID") == d.header.Get("X-Request-ID") && e.env.ID == d.env.ID {
							return true
						}
					}
				}
			}
			return false
		}},
		{"oversized", func(f *WebhookFaults) { f.OversizedEvery = 4 }, WebhookFaultOversized, func(t *testing.T, s *Server, ds []*delivery) bool {
			return slices.ContainsFunc(ds, func(d *delivery) bool { return d.tooBig })
		}},
		{"bomb", func(f *WebhookFaults) { f.BombEvery = 4; f.BombSize = 40 << 20 }, WebhookFaultBomb, func(t *testing.T, s *Server, ds []*delivery) bool {
			return slices.ContainsFunc(ds, func(d *delivery) bool { return d.tooBig })
		}},
		{"wrong_encoding", func(f *WebhookFaults) { f.WrongEncodingEvery = 2 }, WebhookFaultWrongEncoding, func(t *testing.T, s *Server, ds []*delivery) bool {
			return slices.ContainsFunc(ds, func(d *delivery) bool { return d.encoding == "identity" && d.sigOK }) &&
				slices.ContainsFunc(ds, func(d *delivery) bool { return d.encoding == "br" })
		}},
		{"lose", func(f *WebhookFaults) { f.LoseEvery = 2 }, WebhookFaultLose, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pushConfig()
			tc.set(&cfg.WebhookFaults)
			h := newHarness(t, cfg)
			rc := newReceiver(t, h.clk)
			id := h.createWebhook(rc, "/f", nil)["id"].(string)
			startPush(t, h.s)
			advance(h.clk, 8, 10*time.Second)
			want := expectedIDs(h.s, nil, t0, h.clk.Now())
			if tc.check == nil { // lose: the lost batches come with replay
				waitFor(t, "losses", func() bool { st := h.s.WebhookStats(); return st.Records == int64(len(want)) && !busy(h.s) })
				if rc.hasAll(want) {
					t.Fatal("nothing lost")
				}
				h.do("POST", WebhooksPath+"/"+id+"/replay", nil, true)
			} else {
				waitFor(t, tc.name+" request", func() bool { return tc.check(t, h.s, rc.deliveries()) })
			}
			// The real batches go out whatever the fault.
			waitFor(t, "every point", func() bool { return rc.hasAll(want) })
			if st := h.s.WebhookStats(); st.Faults[tc.kind] == 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// busy reports whether a delivery goroutine runs.
func busy(s *Server) bool {
	s.wh.mu.Lock()
	defer s.wh.mu.Unlock()
	for _, sub := range s.wh.list {
		if sub.busy || len(sub.pending) > 0 {
			return true
		}
	}
	return false
}

func TestGzipPadded(t *testing.T) {
	for _, pad := range []int64{0, 1, 2, 258, 259, 260, 258*16 + 1, 258*17 + 5, 100000} {
		for _, head := range [][]byte{nil, []byte(`{"a":[`), bytes.Repeat([]byte("x"), 70000)} {
			var buf bytes.Buffer
			if err := writeGzipPadded(&buf, head, pad, []byte(`]}`)); err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(zr)
			want := append(append(slices.Clone(head), bytes.Repeat([]byte{' '}, int(pad))...), ']', '}')
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("pad %d, head %d: err %v, got %d bytes, want %d", pad, len(head), err, len(got), len(want))
			}
		}
	}
	var cw countWriter
	writeGzipPadded(&cw, nil, 256<<20, nil)
	if cw > 300<<10 {
		t.Fatalf("256 MiB of padding took %d bytes", cw)
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) { *c += countWriter(len(p)); return len(p), nil }
