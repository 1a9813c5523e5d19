package catenasim

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// API request kinds, the keys of Stats.Kinds: what a client's request
// budget is spent on.
const (
	KindSnapshot = "snapshot" // vehicle-locations with only_latest true (its default)
	KindHistory  = "history"  // vehicle-locations with only_latest false: one vehicle's or driver's history
	KindVehicles = "vehicles" // the vehicle listing
	KindOther    = "other"    // invitations, webhooks and unknown paths
)

var kindNames = [...]string{KindSnapshot, KindHistory, KindVehicles, KindOther}

const (
	kSnapshot = iota
	kHistory
	kVehicles
	kOther
	numKinds
)

// KindStats counts the API requests of one kind.
type KindStats struct {
	Served  int64 // reached the endpoint, whatever it answered
	Refused int64 // answered 429 by Config.RateLimit (injected 429s are Stats.Faults[FaultRateLimit])
}

type kindCounters struct{ served, refused atomic.Int64 }

// requestKind classifies an API request routed to ep. An only_latest that is
// not a boolean counts as a snapshot: the endpoint answers it 422.
func requestKind(ep int, r *http.Request) int {
	switch ep {
	case epLocations:
		var e verrs
		if qBool(r.URL.Query(), "only_latest", true, &e) {
			return kSnapshot
		}
		return kHistory
	case epVehicles:
		return kVehicles
	}
	return kOther
}

// limits holds one token bucket per OAuth client, keyed by the azp claim of
// the bearer token, so every token issued to a client shares its budget, as
// upstream's per-client limit does. Only authenticated API requests spend
// it. The token endpoint does not: it is Keycloak's, in front of the API
// and outside its budget, and a client refused a token could never learn
// when to retry (the OAuth error body has no retry_after_seconds).
// Unauthenticated requests (the public invitation lookup, 401s) have no
// client to charge.
type limits struct {
	limit rate.Limit // 0: no limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter // client -> bucket; clients come from signed tokens only, so it stays small
}

func (l *limits) init(perSec float64, burst int) {
	l.limit, l.burst = rate.Limit(perSec), burst
	l.m = map[string]*rate.Limiter{}
}

// take spends one request of client's budget. When the budget is spent it
// spends nothing and returns how long until it has a request again.
func (l *limits) take(client string) (wait time.Duration, ok bool) {
	if l.limit == 0 {
		return 0, true
	}
	l.mu.Lock()
	lim := l.m[client]
	if lim == nil {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[client] = lim
	}
	l.mu.Unlock()
	now := time.Now()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // refused requests cost nothing, so a client that backs off gets its rate
		return d, false
	}
	return 0, true
}
