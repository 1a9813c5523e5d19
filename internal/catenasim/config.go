package catenasim

import (
	"fmt"
	"math"
	"net/http"
	"time"
)

// Config configures a Server. The zero value is usable: every zero field
// takes the default stated on it.
type Config struct {
	Seed             int64         // default 1 (0 means 1)
	Fleets           int           // default 3
	VehiclesPerFleet int           // default 5
	ReportInterval   time.Duration // each vehicle reports one point per interval, default 30s, minimum 1ms

	ClientID     string        // default "demo"
	ClientSecret string        // default "demo"
	TokenTTL     time.Duration // expires_in of issued tokens, default 1h

	// RateLimit is the API requests per second each OAuth client may make,
	// as the real API enforces a budget per client: a request above it gets
	// 429 with detail.retry_after_seconds and a Retry-After header, like the
	// injected Faults.RateLimitEvery. It is real time (testing/synctest fakes
	// it), whatever Clock does: a budget is spent in wall-clock seconds.
	// Default 0: no limit.
	RateLimit float64
	// RateBurst is how many requests a client may make at once above the
	// rate. Default: RateLimit rounded up (one second's worth), at least 1.
	RateBurst int

	// Clock is the simulated now: point visibility, invitation expiry and,
	// unless TokenClock is set, token expiry. Default: real time.
	Clock Clock
	// TokenClock is the clock for token iat/exp and expiry checks. Default:
	// Clock. When Clock is not real time (a start in the past, or a speed
	// other than 1), the JWT exp claim is in simulated time: a client that
	// compares exp with its own clock (as the official SDK does) needs
	// TokenClock = NewClock(time.Now(), 1); a client that uses expires_in
	// and refreshes on 401 works either way.
	TokenClock Clock
	Faults     Faults

	// Webhook push side (Server.Push). Intervals and timeouts are real time;
	// envelope and header timestamps are Clock time.

	// PushInterval is how often Push looks for newly visible points. Default 100ms.
	PushInterval time.Duration
	// PushBatch is the most records in one delivery. Default 100.
	PushBatch int
	// PushTimeout bounds one delivery attempt: an answer later than this is
	// a failure. Default 3s, as the contract says.
	PushTimeout time.Duration
	// PushRetries is the number of retries after a failed first attempt
	// (a 5xx, a timeout or a transport error). Default 3.
	PushRetries int
	// PushBackoff is the wait before the first retry; it doubles for each
	// further retry. Default 500ms (retries at +0.5s, +1.5s, +3.5s).
	PushBackoff time.Duration
	// StaleAfter is the number of consecutive failed deliveries (retries
	// exhausted) after which a subscription goes stale. Default 20.
	StaleAfter int
	// PushClient sends the deliveries. Default: a client on a clone of
	// http.DefaultTransport that does not follow redirects (a 3xx, being
	// non-5xx, counts as acknowledged).
	PushClient *http.Client
	// WebhookFaults selects faults of the push side.
	WebhookFaults WebhookFaults
}

// WebhookFaults selects deterministic faults of webhook deliveries. Each
// Every field makes every Nth delivery (a batch taken from a subscription's
// queue, counted over all subscriptions) show the fault; 0 = never. Forge,
// StaleTimestamp, Oversized, Bomb and WrongEncoding send an extra request
// after the real batch, which goes out normally.
type WebhookFaults struct {
	// DuplicateEvery sends an acknowledged batch again, as a retry would:
	// same envelope id, X-Delivery-Attempt + 1, new X-Request-ID.
	DuplicateEvery int
	// ReorderEvery holds a batch back and sends it after the next batch (or
	// after 5 PushIntervals without a next batch).
	ReorderEvery int
	// LoseEvery puts the batch straight into the DLQ without sending it;
	// replay delivers it.
	LoseEvery int
	// ForgeEvery also sends a delivery with a wrong signature carrying up to
	// 3 fabricated records with new ids (see Server.ForgedIDs).
	ForgeEvery int
	// StaleTimestampEvery re-sends the previous acknowledged batch signed
	// with a timestamp 10 minutes (Clock time) in the past, with the
	// X-Request-ID and X-Delivery-Attempt it was sent with.
	StaleTimestampEvery int
	// OversizedEvery also sends a correctly signed delivery whose
	// decompressed body exceeds 16 MiB (the batch's records repeated).
	OversizedEvery int
	// BombEvery also sends a gzip bomb: BombSize bytes of JSON whitespace
	// inside an envelope, compressed on the fly (about 1 KiB per MiB, the
	// limit of DEFLATE) and never held in memory. Its signature is wrong.
	BombEvery int
	// BombSize is the decompressed size of a bomb. Default 256 MiB.
	BombSize int64
	// WrongEncodingEvery also sends the batch, correctly signed, with
	// Content-Encoding identity (a plain JSON body) or br (the gzip body),
	// alternately.
	WrongEncodingEvery int
}

// Faults selects deterministic fault injection. Zero disables every fault.
//
// Request-based faults (RateLimitEvery, ServerErrorEvery) count API requests,
// that is every request under /v2/; token and health requests are not
// counted. When both hit the same request the 429 wins.
//
// Point-based faults (LateEvery, MalformedEvery) are properties of the data:
// they apply to every Nth point of each vehicle (by tick, with a per-vehicle
// phase), so they are the same on every Server with the same seed.
type Faults struct {
	// RateLimitEvery makes every Nth API request fail with 429 and a
	// Retry-After. 0 = never.
	RateLimitEvery int
	// RetryAfter is sent as the Retry-After header (whole seconds, rounded
	// up) and as detail.retry_after_seconds. Default 1s.
	RetryAfter time.Duration
	// ServerErrorEvery makes every Nth API request fail with a 5xx, cycling
	// 500 {"message":"Internal Server Error"}, 502 (an HTML body, as a proxy
	// would send) and 503 {"message":"Service Unavailable"}. 0 = never.
	ServerErrorEvery int
	// Latency is added to every response (real time, so testing/synctest
	// fakes it). The wait ends early when the request is cancelled.
	Latency time.Duration
	// DuplicateEvery repeats, at every Nth page boundary of a history
	// listing (only_latest=false), the last record of page n at the start of
	// page n+1. Pages of size 1 are never shifted. 0 = never.
	DuplicateEvery int
	// LateEvery makes every Nth point visible only LateBy after its
	// occurred_at. 0 = never.
	LateEvery int
	// LateBy is the delay of late points. Default 10m.
	LateBy time.Duration
	// MalformedEvery makes every Nth point malformed, cycling the kinds
	// MalformedMissingFleetID, MalformedCoordinates, MalformedInvalidH3 and
	// a null h3_index_11 with valid coordinates (which is valid data: a
	// consumer derives the cell; see Point.H3NullOnWire). 0 = never.
	MalformedEvery int
}

// maxVehicles bounds Fleets*VehiclesPerFleet: the snapshot endpoint walks
// every vehicle per request.
const maxVehicles = 1_000_000

func (c *Config) setDefaults() {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Fleets == 0 {
		c.Fleets = 3
	}
	if c.VehiclesPerFleet == 0 {
		c.VehiclesPerFleet = 5
	}
	if c.ReportInterval == 0 {
		c.ReportInterval = 30 * time.Second
	}
	if c.ClientID == "" {
		c.ClientID = "demo"
	}
	if c.ClientSecret == "" {
		c.ClientSecret = "demo"
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = time.Hour
	}
	if c.RateBurst == 0 && c.RateLimit > 0 {
		c.RateBurst = max(1, int(math.Ceil(c.RateLimit)))
	}
	if c.Clock == nil {
		c.Clock = NewClock(time.Now(), 1)
	}
	if c.TokenClock == nil {
		c.TokenClock = c.Clock
	}
	if c.Faults.RetryAfter == 0 {
		c.Faults.RetryAfter = time.Second
	}
	if c.Faults.LateBy == 0 {
		c.Faults.LateBy = 10 * time.Minute
	}
	if c.PushInterval == 0 {
		c.PushInterval = 100 * time.Millisecond
	}
	if c.PushBatch == 0 {
		c.PushBatch = 100
	}
	if c.PushTimeout == 0 {
		c.PushTimeout = 3 * time.Second
	}
	if c.PushRetries == 0 {
		c.PushRetries = 3
	}
	if c.PushBackoff == 0 {
		c.PushBackoff = 500 * time.Millisecond
	}
	if c.StaleAfter == 0 {
		c.StaleAfter = 20
	}
	if c.PushClient == nil {
		c.PushClient = &http.Client{
			Transport:     http.DefaultTransport.(*http.Transport).Clone(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.WebhookFaults.BombSize == 0 {
		c.WebhookFaults.BombSize = 256 << 20
	}
}

func (c *Config) validate() error {
	switch {
	case c.Fleets < 0:
		return fmt.Errorf("Fleets = %d: must not be negative", c.Fleets)
	case c.VehiclesPerFleet < 0:
		return fmt.Errorf("VehiclesPerFleet = %d: must not be negative", c.VehiclesPerFleet)
	case int64(c.Fleets)*int64(c.VehiclesPerFleet) > maxVehicles:
		return fmt.Errorf("Fleets*VehiclesPerFleet = %d: at most %d vehicles", int64(c.Fleets)*int64(c.VehiclesPerFleet), maxVehicles)
	case c.ReportInterval < time.Millisecond:
		return fmt.Errorf("ReportInterval = %s: must be at least 1ms", c.ReportInterval)
	case c.RateLimit < 0 || math.IsNaN(c.RateLimit) || math.IsInf(c.RateLimit, 0):
		return fmt.Errorf("RateLimit = %v: must be a non-negative number (0 = no limit)", c.RateLimit)
	case c.RateBurst < 0:
		return fmt.Errorf("RateBurst = %d: must not be negative", c.RateBurst)
	case c.TokenTTL < time.Second:
		return fmt.Errorf("TokenTTL = %s: must be at least 1s", c.TokenTTL)
	case c.Faults.RateLimitEvery < 0:
		return fmt.Errorf("Faults.RateLimitEvery = %d: must not be negative", c.Faults.RateLimitEvery)
	case c.Faults.ServerErrorEvery < 0:
		return fmt.Errorf("Faults.ServerErrorEvery = %d: must not be negative", c.Faults.ServerErrorEvery)
	case c.Faults.DuplicateEvery < 0:
		return fmt.Errorf("Faults.DuplicateEvery = %d: must not be negative", c.Faults.DuplicateEvery)
	case c.Faults.LateEvery < 0:
		return fmt.Errorf("Faults.LateEvery = %d: must not be negative", c.Faults.LateEvery)
	case c.Faults.MalformedEvery < 0:
		return fmt.Errorf("Faults.MalformedEvery = %d: must not be negative", c.Faults.MalformedEvery)
	case c.Faults.RetryAfter < 0:
		return fmt.Errorf("Faults.RetryAfter = %s: must not be negative", c.Faults.RetryAfter)
	case c.Faults.LateBy < 0:
		return fmt.Errorf("Faults.LateBy = %s: must not be negative", c.Faults.LateBy)
	case c.Faults.Latency < 0:
		return fmt.Errorf("Faults.Latency = %s: must not be negative", c.Faults.Latency)
	case c.PushInterval < time.Millisecond:
		return fmt.Errorf("PushInterval = %s: must be at least 1ms", c.PushInterval)
	case c.PushBatch < 1 || c.PushBatch > 10000:
		return fmt.Errorf("PushBatch = %d: must be in [1, 10000]", c.PushBatch)
	case c.PushTimeout < 0 || c.PushBackoff < 0:
		return fmt.Errorf("PushTimeout = %s, PushBackoff = %s: must not be negative", c.PushTimeout, c.PushBackoff)
	case c.PushRetries < 0 || c.StaleAfter < 0:
		return fmt.Errorf("PushRetries = %d, StaleAfter = %d: must not be negative", c.PushRetries, c.StaleAfter)
	case c.WebhookFaults.BombSize < 0:
		return fmt.Errorf("WebhookFaults.BombSize = %d: must not be negative", c.WebhookFaults.BombSize)
	}
	wf := &c.WebhookFaults
	for _, n := range [...]int{wf.DuplicateEvery, wf.ReorderEvery, wf.LoseEvery, wf.ForgeEvery, wf.StaleTimestampEvery,
		wf.OversizedEvery, wf.BombEvery, wf.WrongEncodingEvery} {
		if n < 0 {
			return fmt.Errorf("WebhookFaults: an Every field is %d: must not be negative", n)
		}
	}
	return nil
}
