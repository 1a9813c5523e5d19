package catena

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewValidatesConfig(t *testing.T) {
	ok := Config{ClientID: "id", ClientSecret: "secret"}
	for _, tt := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"defaults", func(*Config) {}, ""},
		{"api url scheme", func(c *Config) { c.APIURL = "ftp://x" }, `api url "ftp://x": scheme must be http or https`},
		{"api url parse", func(c *Config) { c.APIURL = "http://a b:%" }, `api url "(unparsable URL)": invalid port`},
		{"api url credentials", func(c *Config) { c.APIURL = "https://user:hunter2@api.example.com" }, `api url "https://user:xxxxx@api.example.com": must not carry credentials`},
		{"api url no host", func(c *Config) { c.APIURL = "http://" }, "missing host"},
		{"token url", func(c *Config) { c.TokenURL = "auth.example.com/token" }, `token url "auth.example.com/token"`},
		{"no client id", func(c *Config) { c.ClientID = " " }, "client id: required"},
		{"no secret", func(c *Config) { c.ClientSecret = "" }, "client secret: required"},
		{"negative rate", func(c *Config) { c.RateLimit = -1 }, "rate limit -1"},
		{"negative timeout", func(c *Config) { c.RequestTimeout = -time.Second }, "request timeout -1s"},
		{"max < initial", func(c *Config) { c.RetryInitialInterval = time.Minute }, "retry max interval 30s: must be >= retry initial interval 1m0s"},
		{"negative body cap", func(c *Config) { c.MaxResponseBytes = -1 }, "max response bytes -1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.cfg.RequestTimeout != DefaultRequestTimeout || c.cfg.RetryMaxElapsed != DefaultRetryMaxElapsed ||
					c.cfg.MaxResponseBytes != DefaultMaxResponseBytes || c.baseURL != DefaultAPIURL || c.budget != nil {
					t.Fatalf("defaults not applied: %+v", c.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret\"") {
				t.Fatalf("error mentions the secret: %v", err)
			}
		})
	}
}

// TestRealTCPGzipKeepAlive runs against a loopback httptest server: gzip is
// decoded by the transport, the API URL's path prefix is kept, and pages
// reuse one connection.
func TestRealTCPGzipKeepAlive(t *testing.T) {
	f := newFake(t)
	f.handle("GET /prefix/v2/telematics/vehicle-locations", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			t.Errorf("Accept-Encoding %q", r.Header.Get("Accept-Encoding"))
		}
		next := "c2"
		if r.URL.Query().Get("cursor") == "c2" {
			next = ""
		}
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(pageJSON([]string{locationJSON(1)}, 2, next)))
		zw.Close()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b.Bytes())
	})
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(f.mux)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(Config{
		APIURL: srv.URL + "/prefix/", TokenURL: srv.URL + "/realms/catena/protocol/openid-connect/token",
		ClientID: testClientID, ClientSecret: testClientSecret,
	})
	if err != nil {
		t.Fatal(err)
	}
	items, _ := collect(t, c.LatestLocations(LocationQuery{}, ""))
	if len(items) != 2 || !json.Valid(items[0]) {
		t.Fatalf("items %q", items)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 requests, want 1 (keep-alive)", n)
	}
}

func TestAPIErrorShapes(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name       string
		status     int
		header     string
		body       string
		want       string
		retryAfter time.Duration
	}{
		{"422 array", 422, "", `{"code":422,"message":"Invalid Request Body","detail":[{"path":"query.size","input":"5000","message":"Input should be less than or equal to 1000","error_type":"less_than_equal"},{"path":"query.vehicle_ids.0","input":"x","message":"Input should be a valid UUID","error_type":"uuid_parsing"}]}`,
			`GET /v2/telematics/vehicle-locations: 422 Invalid Request Body: query.size: Input should be less than or equal to 1000 (input "5000"); query.vehicle_ids.0: Input should be a valid UUID (input "x")`, 0},
		{"422 numeric input", 422, "", `{"detail":[{"path":"query.size","input":5000,"message":"too big","error_type":"x"}]}`,
			`GET /v2/telematics/vehicle-locations: 422 Unprocessable Entity: query.size: too big (input 5000)`, 0},
		{"429 detail", 429, "", `{"code":429,"message":"Too Many Requests","detail":{"retry_after_seconds":30,"message":"Rate limit exceeded"}}`,
			`GET /v2/telematics/vehicle-locations: 429 Too Many Requests: Rate limit exceeded (retry after 30s)`, 30 * time.Second},
		{"429 header date", 429, "Wed, 01 Jan 2025 00:01:00 GMT", `{}`, `429 Too Many Requests`, time.Minute},
		{"500 message only", 500, "", `{"message":"Internal Server Error"}`, `GET /v2/telematics/vehicle-locations: 500 Internal Server Error`, 0},
		{"html", 502, "", "<html>\n<body>Bad   gateway</body></html>", `502 <html> <body>Bad gateway</body></html>`, 0},
		{"empty", 503, "", "", `503 Service Unavailable`, 0},
		{"oauth shape", 401, "", `{"error":"invalid_token","error_description":"Token expired"}`, `401 invalid_token: Token expired`, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Retry-After", tt.header)
			}
			e := newAPIError("list_vehicle_locations", "GET", "https://api.test/v2/telematics/vehicle-locations?cursor=x", tt.status, h, []byte(tt.body), now)
			if !strings.Contains(e.Error(), tt.want) {
				t.Fatalf("Error() = %q\nwant it to contain %q", e.Error(), tt.want)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, tt.retryAfter)
			}
		})
	}
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicles", scripted(status(422, `{"code":422}`)))
	obs := &recordingObserver{}
	c := f.client(func(cfg *Config) { cfg.Observer = obs })
	_, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background())
	if !errors.As(err, new(*APIError)) {
		t.Fatal(err)
	}
	want := []string{EndpointToken + " 200", EndpointVehicles + " 422"}
	if strings.Join(obs.requests, ",") != strings.Join(want, ",") || len(obs.retries) != 0 {
		t.Fatalf("observed %v retries %v", obs.requests, obs.retries)
	}
}
