package catena

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeListener is an in-memory network for an http.Server: every dial is a
// net.Pipe. Unlike loopback TCP, goroutines blocked on it are "durably
// blocked" for testing/synctest, so fake time advances while a server
// handler or client waits.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// serve runs h on an in-memory network and returns a client for it. Both are
// torn down at the end of the test.
func serve(t testing.TB, h http.Handler) *http.Client {
	l := newPipeListener()
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	tr := &http.Transport{DialContext: l.dial, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		srv.Close()
		tr.CloseIdleConnections()
	})
	return &http.Client{Transport: tr}
}

const (
	testClientID     = "bridge-client"
	testClientSecret = "s3cr3t-V4lue-never-print"
)

// fakeCatena is a minimal Catena API written for these tests: a Keycloak-like
// token endpoint issuing tok-1, tok-2, ... and bearer checks. Tests add API
// handlers with handle.
type fakeCatena struct {
	t   testing.TB
	mux *http.ServeMux

	mu            sync.Mutex
	expiresIn     int  // seconds, for tokens issued from now on
	jwtOnly       bool // send expires_in 0 and the expiry only in a JWT exp claim
	tokenRequests int
	tokenForms    []url.Values
	tokenAgents   []string
	revoked       map[string]bool
	apiRequests   []apiRequest
}

type apiRequest struct {
	at     time.Time
	method string
	path   string
	query  url.Values
	auth   string
	agent  string
	body   []byte
}

func newFake(t testing.TB) *fakeCatena {
	f := &fakeCatena{t: t, mux: http.NewServeMux(), expiresIn: 300, revoked: map[string]bool{}}
	f.mux.HandleFunc("POST /realms/catena/protocol/openid-connect/token", f.token)
	return f
}

func (f *fakeCatena) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.tokenRequests++
	n := f.tokenRequests
	f.tokenForms = append(f.tokenForms, r.PostForm)
	f.tokenAgents = append(f.tokenAgents, r.UserAgent())
	exp := f.expiresIn
	jwtOnly := f.jwtOnly
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if r.PostForm.Get("client_id") != testClientID || r.PostForm.Get("client_secret") != testClientSecret {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`)
		return
	}
	if jwtOnly {
		// header.payload.signature, with tok-N as the "signature" so the
		// bearer check can tell tokens apart.
		claims := fmt.Sprintf(`{"exp":%d,"sub":"svc"}`, time.Now().Add(time.Duration(exp)*time.Second).Unix())
		fmt.Fprintf(w, `{"access_token":"e30.%s.tok-%d","expires_in":0,"token_type":"Bearer"}`, b64url(claims), n)
		return
	}
	fmt.Fprintf(w, `{"access_token":"tok-%d","expires_in":%d,"refresh_expires_in":0,"token_type":"Bearer","not-before-policy":0,"scope":"fleet:read telematics:read"}`, n, exp)
}

// handle registers an API handler behind the bearer check. The handler sees
// requests whose token was issued and not revoked; others get a 401.
func (f *fakeCatena) handle(pattern string, h http.HandlerFunc) {
	f.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		auth := r.Header.Get("Authorization")
		f.mu.Lock()
		short := auth
		if i := strings.LastIndexByte(auth, '.'); i >= 0 {
			short = "Bearer " + auth[i+1:]
		}
		f.apiRequests = append(f.apiRequests, apiRequest{time.Now(), r.Method, r.URL.Path, r.URL.Query(), short, r.UserAgent(), body})
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if i := strings.LastIndexByte(tok, '.'); i >= 0 {
			tok = tok[i+1:]
		}
		var issued bool
		if ok {
			var n int
			_, err := fmt.Sscanf(tok, "tok-%d", &n)
			issued = err == nil && n >= 1 && n <= f.tokenRequests
		}
		valid := ok && issued && !f.revoked[tok]
		f.mu.Unlock()
		if !valid {
			writeJSON(w, http.StatusUnauthorized, `{"code":401,"message":"Unauthorized","detail":"invalid or expired token"}`)
			return
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		h(w, r)
	})
}

func (f *fakeCatena) revoke(tok string) {
	f.mu.Lock()
	f.revoked[tok] = true
	f.mu.Unlock()
}

func (f *fakeCatena) tokens() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenRequests
}

func (f *fakeCatena) requests() []apiRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiRequest(nil), f.apiRequests...)
}

// client returns a Client talking to f over an in-memory network. mod, if
// not nil, adjusts the config first.
func (f *fakeCatena) client(mod func(*Config)) *Client {
	f.t.Helper()
	cfg := Config{
		APIURL:       "http://catena.test",
		TokenURL:     "http://catena.test/realms/catena/protocol/openid-connect/token",
		ClientID:     testClientID,
		ClientSecret: testClientSecret,
		HTTPClient:   serve(f.t, f.mux),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, body)
}

// pageJSON renders a page envelope; next "" renders next_page as null.
func pageJSON(items []string, total int, next string) string {
	n := "null"
	if next != "" {
		n = fmt.Sprintf("%q", next)
	}
	return fmt.Sprintf(`{"items":[%s],"total":%d,"current_page":null,"current_page_backwards":null,"previous_page":null,"next_page":%s}`,
		strings.Join(items, ","), total, n)
}

// locationJSON renders a realistic VehicleLocationRead.
func locationJSON(i int) string {
	return fmt.Sprintf(`{"fleet_id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","fleet_ref":"fleet-ref-001","id":"3fa85f64-5717-4562-b3fc-%012d","created_at":"2025-03-01T10:15:30.123456Z","updated_at":"2025-03-01T10:15:30.123456Z","deleted_at":null,"connection_id":"9b2f1c2e-3d4e-4f50-8a61-7b8c9d0e1f20","tsp_id":"1d2c3b4a-5e6f-4a7b-8c9d-0e1f2a3b4c5d","tsp_slug":"samsara","source_name":"samsara","source_id":"samsara-loc-%d","source_data_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08","occurred_at":"2025-03-01T10:15:%02d.000000Z","execution_id":"0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9","schedule_id":null,"extras":{"heading":182.5,"ignition":"on"},"vehicle_id":"5f0c6b1e-8f3a-4d2b-9e7c-1a2b3c4d5e6f","driver_id":"6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d","co_driver_id":null,"source_driver_id":"drv-778","source_vehicle_id":"veh-4412","source_co_driver_id":null,"location":{"type":"Point","coordinates":[-87.62979,41.87811]},"h3_index_11":626740323024326655,"speed":22.35,"odometer":184523117.4,"fuel_level":63.5,"fuel_value":0.412,"engine_hours":10423.7,"oil_pressure":275790.3,"coolant_temperature":361.15,"inferred_address":{"city":"Chicago","province":"IL","country_code":"USA"},"speed_unit":"m/s","odometer_unit":"m","fuel_value_unit":"m3","oil_pressure_unit":"Pa","coolant_temperature_unit":"K"}`, i, i, i%60)
}

// recordingObserver records Observer calls.
type recordingObserver struct {
	mu       sync.Mutex
	requests []string // "endpoint status"
	retries  []string
}

func (o *recordingObserver) Request(endpoint string, status int, err error, d time.Duration) {
	o.mu.Lock()
	o.requests = append(o.requests, fmt.Sprintf("%s %d", endpoint, status))
	o.mu.Unlock()
}

func (o *recordingObserver) Retry(endpoint string, status int, wait time.Duration) {
	o.mu.Lock()
	o.retries = append(o.retries, fmt.Sprintf("%s %d", endpoint, status))
	o.mu.Unlock()
}

func b64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func (o *recordingObserver) Budget(Lane, time.Duration) {}
