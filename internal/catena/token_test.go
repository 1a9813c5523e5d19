package catena

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func vehiclesOK(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, pageJSON(nil, 0, ""))
}

func TestTokenCachedAcrossConcurrentRequests(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicles", vehiclesOK)
	c := f.client(nil)

	const n = 25
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background())
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := f.tokens(); got != 1 {
		t.Fatalf("token requests = %d, want 1 for %d concurrent requests", got, n)
	}
	form := f.tokenForms[0]
	want := map[string]string{"grant_type": "client_credentials", "client_id": testClientID, "client_secret": testClientSecret, "scope": "organization"}
	for k, v := range want {
		if got := form.Get(k); got != v {
			t.Errorf("token form %s = %q, want %q", k, got, v)
		}
	}
	if ua := f.tokenAgents[0]; ua != userAgent {
		t.Errorf("token request User-Agent = %q, want %q", ua, userAgent)
	}
	reqs := f.requests()
	if len(reqs) != n {
		t.Fatalf("API requests = %d, want %d", len(reqs), n)
	}
	for _, r := range reqs {
		if r.auth != "Bearer tok-1" || r.agent != userAgent {
			t.Fatalf("request auth %q agent %q, want Bearer tok-1 and %q", r.auth, r.agent, userAgent)
		}
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	for _, tt := range []struct {
		name      string
		expiresIn int
		margin    time.Duration
		stillOld  time.Duration // a request at this age still uses tok-1
		renewed   time.Duration // a request at this age uses tok-2
	}{
		{"default margin 30s", 120, 0, 89 * time.Second, 91 * time.Second},
		{"margin 10s", 120, 10 * time.Second, 109 * time.Second, 111 * time.Second},
		{"short token clamps margin to half", 40, 0, 19 * time.Second, 21 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(t)
				f.expiresIn = tt.expiresIn
				f.handle("GET /v2/telematics/vehicles", vehiclesOK)
				c := f.client(func(cfg *Config) { cfg.TokenExpiryMargin = tt.margin })
				ctx := context.Background()
				start := time.Now()
				get := func(at time.Duration) string {
					time.Sleep(time.Until(start.Add(at)))
					if _, err := c.Vehicles(VehicleQuery{}, "").Next(ctx); err != nil {
						t.Fatal(err)
					}
					reqs := f.requests()
					return reqs[len(reqs)-1].auth
				}
				if got := get(0); got != "Bearer tok-1" {
					t.Fatalf("first request auth = %q", got)
				}
				if got := get(tt.stillOld); got != "Bearer tok-1" {
					t.Fatalf("at %v auth = %q, want the cached tok-1", tt.stillOld, got)
				}
				if got := get(tt.renewed); got != "Bearer tok-2" {
					t.Fatalf("at %v auth = %q, want renewed tok-2", tt.renewed, got)
				}
				if got := f.tokens(); got != 2 {
					t.Fatalf("token requests = %d, want 2", got)
				}
			})
		})
	}
}

func TestTokenJWTExpFallback(t *testing.T) {
	// expires_in 0, as in the spec's example: the JWT's exp claim decides,
	// as in the official SDK.
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.jwtOnly = true
		f.expiresIn = 100
		f.handle("GET /v2/telematics/vehicles", vehiclesOK)
		c := f.client(nil)
		ctx := context.Background()
		for _, step := range []struct {
			sleep time.Duration
			want  string
		}{{0, "Bearer tok-1"}, {60 * time.Second, "Bearer tok-1"}, {12 * time.Second, "Bearer tok-2"}} {
			time.Sleep(step.sleep)
			if _, err := c.Vehicles(VehicleQuery{}, "").Next(ctx); err != nil {
				t.Fatal(err)
			}
			reqs := f.requests()
			if got := reqs[len(reqs)-1].auth; got != step.want {
				t.Fatalf("after %v: auth %q, want %q", step.sleep, got, step.want)
			}
		}
		if jwtExpiry("opaque-token") != (time.Time{}) {
			t.Fatal("opaque token got an expiry")
		}
	})
}

func TestUnauthorizedRefreshesOnceUnderConcurrency(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicles", vehiclesOK)
	c := f.client(nil)
	ctx := context.Background()
	if _, err := c.Vehicles(VehicleQuery{}, "").Next(ctx); err != nil {
		t.Fatal(err)
	}
	f.revoke("tok-1") // server-side revocation: the cached token now gets 401

	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := c.Vehicles(VehicleQuery{}, "").Next(ctx)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("request failed after token renewal: %v", err)
		}
	}
	if got := f.tokens(); got != 2 {
		t.Fatalf("token requests = %d, want 2 (one renewal shared by %d callers)", got, n)
	}
	ok := 0
	for _, r := range f.requests() {
		if r.auth == "Bearer tok-2" {
			ok++
		}
	}
	if ok != n {
		t.Fatalf("%d requests carried tok-2, want %d (each retried once)", ok, n)
	}
}

func TestPersistentUnauthorized(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicles", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusUnauthorized, `{"code":401,"message":"Unauthorized","detail":"token lacks telematics:read"}`)
	})
	c := f.client(nil)
	_, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != 401 {
		t.Fatalf("err = %v, want an *APIError with status 401", err)
	}
	if !strings.Contains(err.Error(), "token lacks telematics:read") {
		t.Errorf("error %q lacks the API's detail", err)
	}
	if strings.Contains(err.Error(), testClientSecret) || strings.Contains(err.Error(), "tok-") {
		t.Errorf("error leaks a secret: %q", err)
	}
	if got := len(f.requests()); got != 2 {
		t.Errorf("API requests = %d, want 2 (one retry after renewal)", got)
	}
	if got := f.tokens(); got != 2 {
		t.Errorf("token requests = %d, want 2", got)
	}
}

func TestTokenInvalidClient(t *testing.T) {
	f := newFake(t)
	f.handle("GET /v2/telematics/vehicles", vehiclesOK)
	c := f.client(func(cfg *Config) { cfg.ClientSecret = "wrong-" + testClientSecret })
	_, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background())
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	const want = "token request: invalid_client: Invalid client or Invalid client credentials"
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %q, want it to contain %q", err, want)
	}
	if strings.Contains(err.Error(), testClientSecret) {
		t.Fatalf("error leaks the secret: %q", err)
	}
	if got := f.tokens(); got != 1 {
		t.Errorf("token requests = %d, want 1 (a 401 is not retried)", got)
	}
	if got := len(f.requests()); got != 0 {
		t.Errorf("API requests = %d, want 0", got)
	}
}

func TestTokenEndpointRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", vehiclesOK)
		var mu sync.Mutex
		calls := 0
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				mu.Lock()
				calls++
				first := calls == 1
				mu.Unlock()
				if first {
					writeJSON(w, http.StatusServiceUnavailable, `<html>down</html>`)
					return
				}
			}
			f.mux.ServeHTTP(w, r)
		})
		obs := &recordingObserver{}
		c, err := New(Config{
			APIURL: "http://catena.test", TokenURL: "http://catena.test/realms/catena/protocol/openid-connect/token",
			ClientID: testClientID, ClientSecret: testClientSecret, HTTPClient: serve(t, mux), Observer: obs,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background()); err != nil {
			t.Fatal(err)
		}
		want := []string{EndpointToken + " 503", EndpointToken + " 200", EndpointVehicles + " 200"}
		if strings.Join(obs.requests, ",") != strings.Join(want, ",") {
			t.Fatalf("observed %v, want %v", obs.requests, want)
		}
		if len(obs.retries) != 1 || obs.retries[0] != EndpointToken+" 503" {
			t.Fatalf("retries %v", obs.retries)
		}
	})
}

// TestTokenWaiterOutlivesCancelledLeader: the goroutine whose context ends
// during the shared token request must not fail the others.
func TestTokenWaiterOutlivesCancelledLeader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", vehiclesOK)
		var mu sync.Mutex
		calls := 0
		mux := http.NewServeMux()
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/token") {
				mu.Lock()
				calls++
				first := calls == 1
				mu.Unlock()
				if first {
					r.ParseForm()        // body read: the server now notices the client hanging up
					<-r.Context().Done() // hangs until the leader gives up
					return
				}
			}
			f.mux.ServeHTTP(w, r)
		})
		c, err := New(Config{
			APIURL: "http://catena.test", TokenURL: "http://catena.test/realms/catena/protocol/openid-connect/token",
			ClientID: testClientID, ClientSecret: testClientSecret, HTTPClient: serve(t, mux),
		})
		if err != nil {
			t.Fatal(err)
		}
		leaderCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		leaderErr := make(chan error, 1)
		go func() {
			_, err := c.Vehicles(VehicleQuery{}, "").Next(leaderCtx)
			leaderErr <- err
		}()
		synctest.Wait() // the leader is now blocked in the token request
		if _, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background()); err != nil {
			t.Fatalf("waiter failed with the leader's cancellation: %v", err)
		}
		if err := <-leaderErr; !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("leader err = %v, want DeadlineExceeded", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls != 2 {
			t.Fatalf("token requests = %d, want 2", calls)
		}
	})
}
