package catenasim

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the simulated API. It is an http.Handler and safe for
// concurrent use.
type Server struct {
	cfg         Config
	clock       Clock
	seed        uint64
	interval    int64 // ns
	intervalSec float64
	lateBy      int64 // ns

	fleets          []*fleet
	vehicles        []*vehicle
	vehicleByID     map[string]int
	vehicleByDriver map[string]int

	partnerID  string
	tokenKey   []byte
	apiCount   atomic.Int64 // API requests, drives the request faults
	serverErrs atomic.Int64 // 5xx injected so far, picks 500/502/503

	requests [numEndpoints]atomic.Int64
	kinds    [numKinds]kindCounters
	limits   limits // Config.RateLimit, per client
	faults   [numFaults]atomic.Int64
	served   atomic.Int64

	invMu sync.Mutex
	inv   invitations

	wh webhooks // subscriptions and push state (webhooks.go, push.go)

	bufs sync.Pool
}

// Paths served. The token endpoint is also served at "/protocol/openid-connect/token",
// its path relative to the realm URL.
const (
	TokenPath            = "/realms/catena/protocol/openid-connect/token"
	VehicleLocationsPath = "/v2/telematics/vehicle-locations"
	VehiclesPath         = "/v2/telematics/vehicles"
	InvitationsPath      = "/v2/orgs/invitations"
	HealthzPath          = "/healthz"
)

// Endpoint names, the keys of Stats.Requests.
const (
	EndpointToken             = "token"
	EndpointVehicleLocations  = "vehicle_locations"
	EndpointVehicles          = "vehicles"
	EndpointInvitationsCreate = "invitations_create"
	EndpointInvitationsList   = "invitations_list"
	EndpointInvitationsGet    = "invitations_get"
	EndpointHealthz           = "healthz"
	EndpointWebhooks          = "webhooks" // the Notifications API: every /v2/notifications/webhooks request
	EndpointOther             = "other"    // unknown paths and methods
)

var endpointNames = [...]string{EndpointToken, EndpointVehicleLocations, EndpointVehicles,
	EndpointInvitationsCreate, EndpointInvitationsList, EndpointInvitationsGet, EndpointHealthz, EndpointWebhooks, EndpointOther}

const (
	epToken = iota
	epLocations
	epVehicles
	epInvCreate
	epInvList
	epInvGet
	epHealthz
	epWebhooks
	epOther
	numEndpoints
)

// Fault kinds, the keys of Stats.Faults.
const (
	FaultRateLimit    = "rate_limit"   // 429 responses injected
	FaultServerError  = "server_error" // 5xx responses injected
	FaultLatency      = "latency"      // responses delayed by Faults.Latency
	FaultDuplicate    = "duplicate"    // history pages that start with a repeated record
	FaultMalformed    = "malformed"    // malformed location records served (Point.Malformed != "")
	FaultH3Null       = "h3_null"      // records served with a null h3_index_11 (valid data)
	FaultLateServed   = "late"         // late points served
	FaultUnauthorized = "unauthorized" // 401 responses (missing, unknown or expired token)
)

var faultNames = [...]string{FaultRateLimit, FaultServerError, FaultLatency, FaultDuplicate,
	FaultMalformed, FaultH3Null, FaultLateServed, FaultUnauthorized}

const (
	fRateLimit = iota
	fServerError
	fLatency
	fDuplicate
	fMalformed
	fH3Null
	fLate
	fUnauthorized
	numFaults
)

// Stats are counters since New.
type Stats struct {
	Requests        map[string]int64 // by Endpoint* name; every key present
	Faults          map[string]int64 // by Fault* kind; every key present
	LocationsServed int64            // location records written in 200 responses
	// Kinds counts API requests by Kind* name (every key present): those
	// that reached the endpoint and those the rate limit refused. Requests
	// failed by an injected fault or a 401 are in neither.
	Kinds map[string]KindStats
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{Requests: make(map[string]int64, numEndpoints), Faults: make(map[string]int64, numFaults)}
	for i, n := range endpointNames {
		st.Requests[n] = s.requests[i].Load()
	}
	for i, n := range faultNames {
		st.Faults[n] = s.faults[i].Load()
	}
	st.LocationsServed = s.served.Load()
	st.Kinds = make(map[string]KindStats, numKinds)
	for i, n := range kindNames {
		st.Kinds[n] = KindStats{Served: s.kinds[i].served.Load(), Refused: s.kinds[i].refused.Load()}
	}
	return st
}

// New returns a Server for cfg, with defaults applied. It fails when a
// field is out of range.
func New(cfg Config) (*Server, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("catenasim config: %w", err)
	}
	s := &Server{
		cfg:         cfg,
		clock:       cfg.Clock,
		seed:        uint64(cfg.Seed),
		interval:    int64(cfg.ReportInterval),
		intervalSec: cfg.ReportInterval.Seconds(),
		lateBy:      int64(cfg.Faults.LateBy),
	}
	s.partnerID = s.uuidFor(tagPartner, 0, 0)
	s.tokenKey = tokenKey(s.seed, cfg.ClientID, cfg.ClientSecret)
	s.buildModel()
	s.limits.init(cfg.RateLimit, cfg.RateBurst)
	s.inv.init()
	s.wh.init()
	s.bufs.New = func() any { b := make([]byte, 0, 64<<10); return &b }
	return s, nil
}

// ServeHTTP routes a request. See the package documentation for the
// endpoints.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if d := s.cfg.Faults.Latency; d > 0 {
		s.faults[fLatency].Add(1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	path := r.URL.Path
	switch {
	case path == HealthzPath:
		s.requests[epHealthz].Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
		return
	case path == TokenPath || path == "/protocol/openid-connect/token":
		s.requests[epToken].Add(1)
		s.handleToken(w, r)
		return
	}

	ep, h, auth := s.route(r.Method, path)
	s.requests[ep].Add(1)
	kind := requestKind(ep, r)
	if ep == epOther {
		s.kinds[kind].served.Add(1)
		h(w, r)
		return
	}
	if s.injectFault(w) {
		return
	}
	if auth {
		client, reason := s.checkBearer(r)
		if reason != "" {
			s.faults[fUnauthorized].Add(1)
			writeAPIError(w, http.StatusUnauthorized, reason)
			return
		}
		if wait, ok := s.limits.take(client); !ok {
			s.kinds[kind].refused.Add(1)
			writeTooManyRequests(w, wait)
			return
		}
	}
	s.kinds[kind].served.Add(1)
	h(w, r)
}

func (s *Server) route(method, path string) (ep int, h http.HandlerFunc, auth bool) {
	notAllowed := func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, http.StatusMethodNotAllowed, "")
	}
	switch {
	case path == VehicleLocationsPath:
		if method == http.MethodGet {
			return epLocations, s.handleLocations, true
		}
	case path == VehiclesPath:
		if method == http.MethodGet {
			return epVehicles, s.handleVehicles, true
		}
	case path == InvitationsPath:
		switch method {
		case http.MethodGet:
			return epInvList, s.handleInvitationList, true
		case http.MethodPost:
			return epInvCreate, s.handleInvitationCreate, true
		}
	case strings.HasPrefix(path, "/v2/orgs/invitations/") && !strings.Contains(path[len("/v2/orgs/invitations/"):], "/"):
		if method == http.MethodGet {
			// Unauthenticated, like upstream: the id is the secret.
			return epInvGet, s.handleInvitationGet, false
		}
	case path == WebhooksPath || strings.HasPrefix(path, WebhooksPath+"/"):
		h, known := s.webhookRoute(method, path)
		switch {
		case h != nil:
			return epWebhooks, h, true
		case !known:
			return epOther, func(w http.ResponseWriter, r *http.Request) { writeAPIError(w, http.StatusNotFound, "") }, false
		}
	default:
		return epOther, func(w http.ResponseWriter, r *http.Request) { writeAPIError(w, http.StatusNotFound, "") }, false
	}
	return epOther, notAllowed, false
}

// injectFault writes a 429 or 5xx when this API request is due one.
func (s *Server) injectFault(w http.ResponseWriter) bool {
	n := s.apiCount.Add(1)
	f := &s.cfg.Faults
	if f.RateLimitEvery > 0 && n%int64(f.RateLimitEvery) == 0 {
		s.faults[fRateLimit].Add(1)
		writeTooManyRequests(w, f.RetryAfter)
		return true
	}
	if f.ServerErrorEvery > 0 && n%int64(f.ServerErrorEvery) == 0 {
		s.faults[fServerError].Add(1)
		switch (s.serverErrs.Add(1) - 1) % 3 {
		case 0:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal Server Error"})
		case 1:
			// What a load balancer in front of the API sends.
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			w.Write([]byte("<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"))
		case 2:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"message": "Service Unavailable"})
		}
		return true
	}
	return false
}

// writeTooManyRequests writes the contract's 429 body, {code, message,
// detail: {retry_after_seconds, message}}, and a Retry-After header with
// the same whole seconds (wait rounded up), which upstream may or may not
// send: a client must honour either.
func writeTooManyRequests(w http.ResponseWriter, wait time.Duration) {
	secs := int64(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"code":    429,
		"message": "Too Many Requests",
		"detail": map[string]any{
			"retry_after_seconds": secs,
			"message":             fmt.Sprintf("Rate limit exceeded. Retry after %d seconds.", secs),
		},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled; this is a programming error.
		panic(fmt.Sprintf("catenasim: marshal response: %v", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}

// writeAPIError writes the {code, message, detail} body of the 4xx API
// errors; detail "" is JSON null.
func writeAPIError(w http.ResponseWriter, status int, detail string) {
	body := struct {
		Code    int     `json:"code"`
		Message string  `json:"message"`
		Detail  *string `json:"detail"`
	}{Code: status, Message: http.StatusText(status)}
	if detail != "" {
		body.Detail = &detail
	}
	writeJSON(w, status, body)
}

func write422(w http.ResponseWriter, e verrs) {
	writeJSON(w, http.StatusUnprocessableEntity, struct {
		Code    int                `json:"code"`
		Message string             `json:"message"`
		Detail  []validationDetail `json:"detail"`
	}{422, "Invalid Request Body", e})
}

func (s *Server) getBuf() *[]byte { return s.bufs.Get().(*[]byte) }

func (s *Server) putBuf(b *[]byte) {
	if cap(*b) <= 4<<20 {
		*b = (*b)[:0]
		s.bufs.Put(b)
	}
}

func writeBody(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

func appendInt(b []byte, n int64) []byte { return strconv.AppendInt(b, n, 10) }
