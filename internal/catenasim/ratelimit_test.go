package catenasim

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// rlStep is one request of a rate-limit script: after sleeping, the client
// sends path (a token request when path is TokenPath) and expects status.
type rlStep struct {
	sleep  time.Duration
	client string // "" = the configured client, with a token from the token endpoint
	path   string
	status int
	retry  int64 // expected retry_after_seconds of a 429
}

func TestRateLimitPerClient(t *testing.T) {
	snap := locPath + "size=1"
	hist := locPath + q("only_latest", "false", "vehicle_ids", "00000000-0000-4000-8000-000000000000")
	veh := VehiclesPath + "?size=1"
	inv := InvitationsPath
	tests := []struct {
		name  string
		cfg   Config
		steps []rlStep
		kinds map[string]KindStats
	}{
		{"off by default", Config{}, []rlStep{
			{path: snap, status: 200}, {path: snap, status: 200}, {path: snap, status: 200}, {path: snap, status: 200},
		}, map[string]KindStats{KindSnapshot: {Served: 4}}},
		{"burst, then 429 until a request is due", Config{RateLimit: 2}, []rlStep{
			{path: snap, status: 200}, {path: hist, status: 200},
			{path: veh, status: 429, retry: 1}, // the next request is due in 500ms: rounded up
			{sleep: 499 * time.Millisecond, path: snap, status: 429, retry: 1},
			{sleep: time.Millisecond, path: veh, status: 200},
			{path: inv, status: 429, retry: 1},
		}, map[string]KindStats{KindSnapshot: {Served: 1, Refused: 1}, KindHistory: {Served: 1},
			KindVehicles: {Served: 1, Refused: 1}, KindOther: {Refused: 1}}},
		{"retry_after_seconds rounds a long wait up", Config{RateLimit: 0.4, RateBurst: 1}, []rlStep{
			{path: snap, status: 200},
			{path: snap, status: 429, retry: 3}, // 2.5s
			{sleep: 2 * time.Second, path: snap, status: 429, retry: 1},
			{sleep: 500 * time.Millisecond, path: snap, status: 200},
		}, map[string]KindStats{KindSnapshot: {Served: 2, Refused: 2}}},
		{"refused requests cost nothing", Config{RateLimit: 1, RateBurst: 1}, []rlStep{
			{path: snap, status: 200},
			{sleep: 100 * time.Millisecond, path: snap, status: 429, retry: 1},
			{sleep: 100 * time.Millisecond, path: snap, status: 429, retry: 1},
			{sleep: 100 * time.Millisecond, path: snap, status: 429, retry: 1},
			{sleep: 700 * time.Millisecond, path: snap, status: 200},
		}, map[string]KindStats{KindSnapshot: {Served: 2, Refused: 3}}},
		{"each client has its own budget", Config{RateLimit: 1, RateBurst: 1}, []rlStep{
			{path: snap, status: 200},
			{path: snap, status: 429, retry: 1},
			{client: "other", path: snap, status: 200},
			{client: "other", path: snap, status: 429, retry: 1},
		}, map[string]KindStats{KindSnapshot: {Served: 2, Refused: 2}}},
		{"the token endpoint spends no budget", Config{RateLimit: 1, RateBurst: 1}, []rlStep{
			{path: TokenPath, status: 200}, {path: TokenPath, status: 200},
			{path: snap, status: 200},
			{path: TokenPath, status: 200}, {path: TokenPath, status: 200},
			{path: snap, status: 429, retry: 1},
		}, map[string]KindStats{KindSnapshot: {Served: 1, Refused: 1}}},
		{"unauthenticated requests spend no budget", Config{RateLimit: 1, RateBurst: 1}, []rlStep{
			{client: "-", path: snap, status: 401}, {client: "-", path: snap, status: 401},
			{path: snap, status: 200},
		}, map[string]KindStats{KindSnapshot: {Served: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tc.cfg.Clock = NewManualClock(t0)
				s, err := New(tc.cfg)
				if err != nil {
					t.Fatal(err)
				}
				own := token(t, s)
				other := s.signToken(map[string]any{"exp": t0.Add(time.Hour).Unix(), "azp": "other"})
				for i, st := range tc.steps {
					time.Sleep(st.sleep)
					var req = httptest.NewRequest("GET", st.path, nil)
					if st.path == TokenPath {
						req = tokenRequest(s)
					}
					switch st.client {
					case "":
						req.Header.Set("Authorization", "Bearer "+own)
					case "other":
						req.Header.Set("Authorization", "Bearer "+other)
					}
					rec := httptest.NewRecorder()
					s.ServeHTTP(rec, req)
					if rec.Code != st.status {
						t.Fatalf("step %d (%s): status %d, want %d: %s", i, st.path, rec.Code, st.status, rec.Body)
					}
					if st.status == 429 {
						check429(t, rec, st.retry)
					}
				}
				got := s.Stats().Kinds
				for _, k := range []string{KindSnapshot, KindHistory, KindVehicles, KindOther} {
					if got[k] != tc.kinds[k] {
						t.Errorf("Kinds[%s] = %+v, want %+v", k, got[k], tc.kinds[k])
					}
				}
				if n := s.Stats().Faults[FaultRateLimit]; n != 0 {
					t.Errorf("the rate limit counted as %d injected faults", n)
				}
			})
		})
	}
}

// TestRateLimitSustained checks the rate over time: a client asking 20
// times a second against a limit of 10 gets 10 a second.
func TestRateLimitSustained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, err := New(Config{Clock: NewManualClock(t0), RateLimit: 10, RateBurst: 1})
		if err != nil {
			t.Fatal(err)
		}
		tok := token(t, s)
		ok := 0
		for range 200 { // 10 s
			req := httptest.NewRequest("GET", locPath+"size=1", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code == 200 {
				ok++
			}
			time.Sleep(50 * time.Millisecond)
		}
		if st := s.Stats().Kinds[KindSnapshot]; ok != 100 || st.Served != 100 || st.Refused != 100 {
			t.Fatalf("%d served (stats %+v), want 100 served and 100 refused in 10s at 10/s", ok, st)
		}
	})
}

func TestRateLimitConfig(t *testing.T) {
	for _, cfg := range []Config{{RateLimit: -1}, {RateLimit: 1, RateBurst: -1}} {
		if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "Rate") {
			t.Errorf("New(%+v) = %v, want a RateLimit/RateBurst error", cfg, err)
		}
	}
}

func tokenRequest(s *Server) *http.Request {
	req := httptest.NewRequest("POST", TokenPath, strings.NewReader(url.Values{
		"grant_type": {"client_credentials"}, "client_id": {s.cfg.ClientID}, "client_secret": {s.cfg.ClientSecret}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// token fetches a token for the configured client through the token endpoint.
func token(t *testing.T, s *Server) string {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, tokenRequest(s))
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &tr) != nil || tr.AccessToken == "" {
		t.Fatalf("token: %d %s", rec.Code, rec.Body)
	}
	return tr.AccessToken
}

// check429 checks the contract's 429 body and the Retry-After header.
func check429(t *testing.T, rec *httptest.ResponseRecorder, retry int64) {
	t.Helper()
	var body struct {
		Code    int
		Message string
		Detail  struct {
			RetryAfterSeconds *int64  `json:"retry_after_seconds"`
			Message           *string `json:"message"`
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("429 body %s: %v", rec.Body, err)
	}
	if body.Code != 429 || body.Message != "Too Many Requests" || body.Detail.RetryAfterSeconds == nil ||
		*body.Detail.RetryAfterSeconds != retry || body.Detail.Message == nil {
		t.Fatalf("429 body %s, want retry_after_seconds %d", rec.Body, retry)
	}
	if ra := rec.Header().Get("Retry-After"); ra != itoa(int(retry)) {
		t.Fatalf("Retry-After = %q, want %d", ra, retry)
	}
}
