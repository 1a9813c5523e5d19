package catena

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const (
	webhookID  = "0b6f3c2a-7d1e-4f5a-9c8b-2e3d4f5a6b7c"
	webhookID2 = "1c7a4d3b-8e2f-4a6b-8d9c-3f4e5a6b7c8d"
	fleetID    = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	genSecret  = "Xk9mQ2vLp8RtW4zN" // a Catena-generated secret, 16 alphanumerics as in the Quick Start
)

func webhookJSON(id, event, secret string) string {
	s := "null"
	if secret != "" {
		s = fmt.Sprintf("%q", secret)
	}
	return fmt.Sprintf(`{"id":%q,"partner_id":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9","url":"https://bridge.example.com/webhooks/*****","event_name":%q,"filters":null,"secret":%s,"status":"active","created_at":"2025-05-01T08:00:00Z","updated_at":"2025-05-01T08:00:00Z","deleted_at":null}`, id, event, s)
}

func webhookReadJSON(id, status string) string {
	return fmt.Sprintf(`{"id":%q,"url":"https://bridge.example.com/webhooks/*****","event_name":"vehicle_location.added","filters":{"fleet_ids":[%q],"fleet_refs":null},"secret":"*****","status":%q,"created_at":"2025-05-01T08:00:00Z","updated_at":"2025-05-02T09:30:00Z"}`, id, fleetID, status)
}

// fastRetries makes back-off waits a millisecond.
func fastRetries(cfg *Config) {
	cfg.RetryInitialInterval = time.Millisecond
	cfg.RetryMaxInterval = time.Millisecond
	cfg.RetryMaxElapsed = time.Second
}

func TestCreateWebhook(t *testing.T) {
	f := newFake(t)
	var contentType string
	f.handle("POST /v2/notifications/webhooks", func(w http.ResponseWriter, r *http.Request) {
		contentType = r.Header.Get("Content-Type")
		writeJSON(w, http.StatusOK, webhookJSON(webhookID, "vehicle_location.added", genSecret))
	})
	obs := &recordingObserver{}
	c := f.client(func(cfg *Config) { cfg.Observer = obs })
	got, err := c.CreateWebhook(context.Background(), WebhookCreate{
		URL:       "https://bridge.example.com/webhooks/catena",
		EventName: EventVehicleLocationAdded,
		Filters:   &WebhookFilters{FleetIDs: []string{fleetID}, FleetRefs: []string{"acme-1", "acme-2"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != webhookID || got[0].Status != WebhookActive || got[0].EventName != "vehicle_location.added" ||
		got[0].Filters != nil || got[0].DeletedAt != nil || !got[0].CreatedAt.Equal(time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC)) {
		t.Fatalf("decoded %+v", got)
	}
	if s, ok := got[0].GeneratedSecret(); !ok || s != genSecret {
		t.Fatalf("GeneratedSecret = %q, %v", s, ok)
	}
	reqs := f.requests()
	if len(reqs) != 1 || reqs[0].method != "POST" || contentType != "application/json" {
		t.Fatalf("requests %+v, content type %q", reqs, contentType)
	}
	var body map[string]any
	if err := json.Unmarshal(reqs[0].body, &body); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"url": "https://bridge.example.com/webhooks/catena", "event_name": "vehicle_location.added",
		"filters": map[string]any{"fleet_ids": []any{fleetID}, "fleet_refs": []any{"acme-1", "acme-2"}},
	}
	if !reflect.DeepEqual(body, want) {
		t.Fatalf("request body %v\nwant %v", body, want)
	}
	if want := []string{EndpointToken + " 200", EndpointWebhooks + " 200"}; !reflect.DeepEqual(obs.requests, want) {
		t.Fatalf("observer %v, want %v", obs.requests, want)
	}
}

func TestCreateWebhookOmitsEmptyOptionals(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v2/notifications/webhooks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, webhookJSON(webhookID, "vehicle_location.added", MaskedSecret))
	})
	c := f.client(nil)
	secret := "a-secret-of-32-characters-xxxxxx"
	for _, tt := range []struct {
		in   WebhookCreate
		want string
	}{
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added"},
			`{"url":"https://x.test/h","event_name":"vehicle_location.added"}`},
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added", Filters: &WebhookFilters{FleetRefs: []string{}}},
			`{"url":"https://x.test/h","event_name":"vehicle_location.added"}`},
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added", Secret: &secret},
			`{"url":"https://x.test/h","event_name":"vehicle_location.added","secret":"a-secret-of-32-characters-xxxxxx"}`},
	} {
		got, err := c.CreateWebhook(context.Background(), tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := got[0].GeneratedSecret(); ok {
			t.Errorf("a masked secret reported as generated")
		}
		reqs := f.requests()
		if b := string(reqs[len(reqs)-1].body); b != tt.want {
			t.Errorf("body %s\nwant %s", b, tt.want)
		}
	}
}

func TestCreateWebhookCatchAllReturnsList(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v2/notifications/webhooks", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, "[\n"+webhookJSON(webhookID, "vehicle_location.added", genSecret)+","+
			webhookJSON(webhookID2, "vehicle_location.removed", genSecret)+"]")
	})
	c := f.client(nil)
	got, err := c.CreateWebhook(context.Background(), WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.*"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != webhookID || got[1].ID != webhookID2 || got[1].EventName != "vehicle_location.removed" {
		t.Fatalf("decoded %+v", got)
	}
}

func TestCreateWebhookBadAnswer(t *testing.T) {
	for _, body := range []string{`[]`, `"ok"`, `{"status":"active"}`} {
		f := newFake(t)
		f.handle("POST /v2/notifications/webhooks", status(http.StatusOK, body))
		c := f.client(nil)
		_, err := c.CreateWebhook(context.Background(), WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.*"})
		if !errors.Is(err, ErrOutcomeUnknown) {
			t.Errorf("answer %s: err = %v, want ErrOutcomeUnknown", body, err)
		}
		if n := len(f.requests()); n != 1 {
			t.Errorf("answer %s: %d requests, want 1", body, n)
		}
	}
}

func TestCreateWebhookValidation(t *testing.T) {
	f := newFake(t)
	c := f.client(nil)
	short := "only-11-chr"
	long := "https://x.test/" + strings.Repeat("a", 2100)
	for _, tt := range []struct {
		in   WebhookCreate
		want string
	}{
		{WebhookCreate{EventName: "vehicle_location.added"}, `url "": required`},
		{WebhookCreate{URL: "ftp://x.test/h", EventName: "vehicle_location.added"}, `url "ftp://x.test/h": scheme must be http or https`},
		{WebhookCreate{URL: "bridge.example.com/h", EventName: "vehicle_location.added"}, `url "bridge.example.com/h": scheme must be http or https`},
		{WebhookCreate{URL: "https:///h", EventName: "vehicle_location.added"}, `url "https:///h": no host`},
		{WebhookCreate{URL: "https://user:pw@x.test/h", EventName: "vehicle_location.*x"}, `event_name "vehicle_location.*x": must be`},
		{WebhookCreate{URL: long, EventName: "vehicle_location.added"}, "2115 characters: at most 2083"},
		{WebhookCreate{URL: "https://x.test/h"}, `event_name "": required`},
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle location added"}, `event_name "vehicle location added": must be <resource>.<action>`},
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added", Filters: &WebhookFilters{FleetIDs: []string{fleetID, "acme"}}},
			`filters.fleet_ids[1] "acme": not a uuid`},
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added", Filters: &WebhookFilters{FleetRefs: []string{" "}}},
			`filters.fleet_refs[0] " ": empty`},
		{WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added", Secret: &short}, "secret: 11 characters: use at least 12"},
	} {
		_, err := c.CreateWebhook(context.Background(), tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), short) || strings.Contains(err.Error(), ":pw@")) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
	if f.tokens() != 0 {
		t.Fatal("invalid subscriptions sent requests")
	}
}

// A create that may have reached the API is not repeated: a second one
// would not return the generated secret.
func TestCreateWebhookNotRetriedWhenOutcomeUnknown(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.HandlerFunc
	}{
		{"500", status(http.StatusInternalServerError, `{"message":"Internal Server Error"}`)},
		{"502", status(http.StatusBadGateway, `<html>bad gateway</html>`)},
		{"503", status(http.StatusServiceUnavailable, `{"code":503}`)},
		{"connection lost", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		}},
		{"body cut", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "500")
			w.WriteHeader(http.StatusOK)
			w.Write([]byte(`{"id":`))
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(200 * time.Millisecond)
			writeJSON(w, http.StatusOK, webhookJSON(webhookID, "vehicle_location.added", genSecret))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("POST /v2/notifications/webhooks", tt.h)
			obs := &recordingObserver{}
			c := f.client(func(cfg *Config) {
				fastRetries(cfg)
				cfg.RequestTimeout = 50 * time.Millisecond
				cfg.Observer = obs
			})
			_, err := c.CreateWebhook(context.Background(), WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added"})
			if !errors.Is(err, ErrOutcomeUnknown) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("err = %v, want ErrOutcomeUnknown", err)
			}
			if n := len(f.requests()); n != 1 {
				t.Fatalf("%d requests, want 1", n)
			}
			if len(obs.retries) != 0 {
				t.Fatalf("retries %v", obs.retries)
			}
		})
	}
}

// A create the API certainly did not act on is retried with the same body.
func TestCreateWebhookRetriesWhenNotProcessed(t *testing.T) {
	for _, tt := range []struct {
		name  string
		first http.HandlerFunc
	}{
		{"429", status(http.StatusTooManyRequests, `{"code":429,"detail":{"retry_after_seconds":0.01,"message":"slow down"}}`)},
		{"401", status(http.StatusUnauthorized, `{"code":401}`)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("POST /v2/notifications/webhooks", scripted(tt.first,
				status(http.StatusOK, webhookJSON(webhookID, "vehicle_location.added", genSecret))))
			c := f.client(fastRetries)
			got, err := c.CreateWebhook(context.Background(), WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added"})
			if err != nil || len(got) != 1 {
				t.Fatalf("got %v, err %v", got, err)
			}
			reqs := f.requests()
			if len(reqs) != 2 || string(reqs[1].body) != string(reqs[0].body) || len(reqs[1].body) == 0 {
				t.Fatalf("%d requests: %+v", len(reqs), reqs)
			}
		})
	}
	t.Run("dial refused", func(t *testing.T) {
		f := newFake(t)
		f.handle("POST /v2/notifications/webhooks", status(http.StatusOK, webhookJSON(webhookID, "vehicle_location.added", genSecret)))
		l := newPipeListener()
		srv := &http.Server{Handler: f.mux}
		go srv.Serve(l)
		t.Cleanup(func() { srv.Close() })
		var dials atomic.Int64
		tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials.Add(1) == 2 { // the first API request; the first dial is the token's
				return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
			}
			return l.dial(ctx, network, addr)
		}}
		c := f.client(func(cfg *Config) { fastRetries(cfg); cfg.HTTPClient = &http.Client{Transport: tr} })
		if _, err := c.CreateWebhook(context.Background(), WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.added"}); err != nil {
			t.Fatal(err)
		}
		if n := len(f.requests()); n != 1 || dials.Load() != 3 {
			t.Fatalf("%d requests served, %d dials", n, dials.Load())
		}
	})
	t.Run("422 is final", func(t *testing.T) {
		f := newFake(t)
		f.handle("POST /v2/notifications/webhooks", status(http.StatusUnprocessableEntity,
			`{"code":422,"message":"Invalid Request Body","detail":[{"path":"body.event_name","input":"vehicle_location.moved","message":"Input should be a valid event","error_type":"enum"}]}`))
		c := f.client(fastRetries)
		_, err := c.CreateWebhook(context.Background(), WebhookCreate{URL: "https://x.test/h", EventName: "vehicle_location.moved"})
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 422 || errors.Is(err, ErrOutcomeUnknown) || !strings.Contains(err.Error(), "body.event_name") {
			t.Fatalf("err = %v", err)
		}
		if n := len(f.requests()); n != 1 {
			t.Fatalf("%d requests", n)
		}
	})
}

func TestWebhooksList(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/notifications/webhooks", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "" {
			// No total: the Notifications pages have none.
			writeJSON(w, 200, `{"items":[`+webhookReadJSON(webhookID, "stale")+`],"current_page":null,"current_page_backwards":null,"previous_page":null,"next_page":"c2"}`)
			return
		}
		writeJSON(w, 200, `{"items":[`+webhookReadJSON(webhookID2, "stale")+`],"next_page":null}`)
	})
	c := f.client(nil)
	p := c.Webhooks(WebhookQuery{EventName: "vehicle_location.added", Status: WebhookStale}, "")
	var got []WebhookRead
	for {
		page, err := p.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if page == nil {
			break
		}
		got = append(got, page.Items...)
	}
	if len(got) != 2 || got[0].ID != webhookID || got[1].ID != webhookID2 || got[0].Status != "stale" ||
		got[0].URLText() != "https://bridge.example.com/webhooks/*****" || !got[0].SecretMasked() ||
		!reflect.DeepEqual(got[0].Filters, &WebhookFilters{FleetIDs: []string{fleetID}}) ||
		!got[0].UpdatedAt.Equal(time.Date(2025, 5, 2, 9, 30, 0, 0, time.UTC)) {
		t.Fatalf("items %+v", got)
	}
	reqs := f.requests()
	if len(reqs) != 2 || reqs[0].query.Encode() != "event_name=vehicle_location.added&size=1000&status=stale" || reqs[1].query.Get("cursor") != "c2" {
		t.Fatalf("requests %+v", reqs)
	}
}

func TestWebhooksListValidation(t *testing.T) {
	f := newFake(t)
	c := f.client(nil)
	for _, tt := range []struct {
		q    WebhookQuery
		want string
	}{
		{WebhookQuery{Status: "stalled"}, `status "stalled": must be active, paused, stale or deleted`},
		{WebhookQuery{EventName: "vehicle"}, `event_name "vehicle": must be`},
		{WebhookQuery{Size: 1001}, "size = 1001"},
	} {
		if _, err := c.Webhooks(tt.q, "").Next(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
	if f.tokens() != 0 {
		t.Fatal("invalid queries sent requests")
	}
}

func TestWebhookManagement(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/notifications/webhooks/{id}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, webhookReadJSON(r.PathValue("id"), "stale"))
	})
	f.handle("POST /v2/notifications/webhooks/{id}/activate", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, webhookReadJSON(r.PathValue("id"), "active"))
	})
	f.handle("POST /v2/notifications/webhooks/{id}/pause", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, webhookReadJSON(r.PathValue("id"), "paused"))
	})
	f.handle("POST /v2/notifications/webhooks/{id}/replay", status(http.StatusAccepted, `{}`))
	obs := &recordingObserver{}
	c := f.client(func(cfg *Config) { cfg.Observer = obs })
	ctx := context.Background()
	for _, tt := range []struct {
		call func() (*WebhookRead, error)
		want string
	}{
		{func() (*WebhookRead, error) { return c.Webhook(ctx, webhookID) }, "stale"},
		{func() (*WebhookRead, error) { return c.ActivateWebhook(ctx, webhookID) }, "active"},
		{func() (*WebhookRead, error) { return c.PauseWebhook(ctx, webhookID) }, "paused"},
	} {
		w, err := tt.call()
		if err != nil || w.ID != webhookID || w.Status != tt.want {
			t.Fatalf("got %+v, err %v; want status %s", w, err, tt.want)
		}
	}
	if err := c.ReplayWebhook(ctx, webhookID); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range f.requests() {
		got = append(got, r.method+" "+r.path+" "+string(r.body))
	}
	base := "/v2/notifications/webhooks/" + webhookID
	want := []string{"GET " + base + " ", "POST " + base + "/activate ", "POST " + base + "/pause ", "POST " + base + "/replay "}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("requests\n%v\nwant\n%v", got, want)
	}
	wantObs := []string{EndpointToken + " 200", EndpointWebhook + " 200", EndpointWebhookActivate + " 200", EndpointWebhookPause + " 200", EndpointWebhookReplay + " 202"}
	if !reflect.DeepEqual(obs.requests, wantObs) {
		t.Fatalf("observer %v, want %v", obs.requests, wantObs)
	}
}

// Activate, pause and replay are retried like GETs: repeating them is
// harmless.
func TestWebhookReplayRetried(t *testing.T) {
	f := newFake(t)
	f.handle("POST /v2/notifications/webhooks/{id}/replay", scripted(
		status(http.StatusBadGateway, `bad gateway`), status(http.StatusAccepted, ``)))
	c := f.client(fastRetries)
	if err := c.ReplayWebhook(context.Background(), webhookID); err != nil {
		t.Fatal(err)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

func TestWebhookIDValidation(t *testing.T) {
	f := newFake(t)
	c := f.client(nil)
	ctx := context.Background()
	for _, id := range []string{"", "42", webhookID + "/pause", "../vehicles"} {
		_, err1 := c.Webhook(ctx, id)
		_, err2 := c.ActivateWebhook(ctx, id)
		_, err3 := c.PauseWebhook(ctx, id)
		err4 := c.ReplayWebhook(ctx, id)
		for _, err := range []error{err1, err2, err3, err4} {
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("webhook_id %q", id)) {
				t.Errorf("id %q: err = %v", id, err)
			}
		}
	}
	if f.tokens() != 0 {
		t.Fatal("invalid ids sent requests")
	}
}

func TestWebhookLogValueHidesSecret(t *testing.T) {
	var w Webhook
	if err := json.Unmarshal([]byte(webhookJSON(webhookID, "vehicle_location.added", genSecret)), &w); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("created", "webhook", &w)
	if strings.Contains(b.String(), genSecret) || !strings.Contains(b.String(), webhookID) {
		t.Fatalf("log line %q", b.String())
	}
}
