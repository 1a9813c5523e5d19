package catena

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultRequestTimeout       = 30 * time.Second
	DefaultRetryMaxElapsed      = 5 * time.Minute
	DefaultRetryInitialInterval = 500 * time.Millisecond
	DefaultRetryMaxInterval     = 30 * time.Second
	DefaultMaxResponseBytes     = 64 << 20
	DefaultTokenExpiryMargin    = 30 * time.Second
	// DefaultRateLimit is the product default for Config.RateLimit. New does
	// not apply it (0 means "no limit"); callers pass it.
	DefaultRateLimit = 25.0
	// userAgent is sent on every request, token requests included.
	userAgent = "catena-bridge"
)

// Config configures a Client. Only ClientID and ClientSecret are required;
// every zero value means the documented default.
type Config struct {
	// APIURL is the base URL of the REST API, default DefaultAPIURL. It may
	// carry a path prefix; endpoint paths are appended to it.
	APIURL string
	// TokenURL is the OAuth2 token endpoint, default DefaultTokenURL.
	TokenURL string

	// ClientID and ClientSecret are the OAuth2 client credentials (required).
	// The secret is sent only in the token request's form body and never
	// appears in errors or logs.
	ClientID, ClientSecret string

	// RateLimit is the number of requests per second this Client sends, all
	// goroutines and token requests included. 0 means no limit; callers pass
	// DefaultRateLimit (25) as the product default. Waiting for the limiter
	// honours the request's context.
	RateLimit float64
	// RateBurst is how many requests may go out back to back after an idle
	// period, default 1: requests are spaced 1/RateLimit apart, which is the
	// safest choice against a server limit whose window is undocumented.
	RateBurst int

	// RequestTimeout bounds one HTTP attempt, body included, default 30s.
	RequestTimeout time.Duration
	// RetryMaxElapsed bounds the total time spent retrying one request,
	// default 5m. A retry whose wait would end past it is not attempted.
	RetryMaxElapsed time.Duration
	// RetryInitialInterval is the first back-off interval, default 500ms. It
	// grows 1.5x per retry with ±50% jitter.
	RetryInitialInterval time.Duration
	// RetryMaxInterval caps the back-off interval, default 30s. A 429's
	// Retry-After may ask for longer and is honoured.
	RetryMaxInterval time.Duration

	// MaxResponseBytes caps a response body after decompression, default
	// 64 MiB. A larger body fails the request (not retried).
	MaxResponseBytes int64

	// TokenExpiryMargin is how long before its expiry (from expires_in) the
	// token is renewed, default 30s. For short-lived tokens the margin is
	// clamped to half the token's lifetime.
	TokenExpiryMargin time.Duration

	// HTTPClient is the base client; its Transport (connection pool, proxy,
	// TLS), CheckRedirect and Timeout are used. Default: a clone of
	// http.DefaultTransport with more idle connections per host. Do not set
	// Accept-Encoding yourself: Go's transport then handles gzip
	// transparently.
	HTTPClient *http.Client

	// Logger receives retries at Warn (status, error, wait) and token
	// renewals at Debug. Default: discard.
	Logger *slog.Logger

	// Observer, if not nil, is told about every HTTP attempt and retry.
	Observer Observer
}

// Observer receives a call for every HTTP attempt the Client makes, token
// requests included; it exists for metrics. Implementations must be safe for
// concurrent use and fast: they run on the request path.
type Observer interface {
	// Request is called after each attempt. endpoint is the path template
	// (EndpointVehicleLocations, EndpointToken, ...); status is the HTTP
	// status, or 0 when no response arrived (then err is the transport error);
	// err is also non-nil for a non-2xx status (*APIError for the API) or an
	// unreadable body; d is the attempt's duration, body read included.
	Request(endpoint string, status int, err error, d time.Duration)
	// Retry is called before waiting wait to retry a failed attempt.
	Retry(endpoint string, status int, wait time.Duration)
	// Budget is called when an attempt (token requests included) is let
	// through by the rate limit: lane is its context's (LaneOf), waited how
	// long it waited for a token.
	Budget(lane Lane, waited time.Duration)
}

// withDefaults validates cfg and fills in defaults. Errors name the field
// and its value (never the secret).
func (cfg Config) withDefaults() (Config, *url.URL, error) {
	if cfg.APIURL == "" {
		cfg.APIURL = DefaultAPIURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	api, err := parseBaseURL(cfg.APIURL)
	if err != nil {
		return cfg, nil, fmt.Errorf("api url %q: %w", redactURL(cfg.APIURL), err)
	}
	if _, err := parseBaseURL(cfg.TokenURL); err != nil {
		return cfg, nil, fmt.Errorf("token url %q: %w", redactURL(cfg.TokenURL), err)
	}
	if strings.TrimSpace(cfg.ClientID) == "" {
		return cfg, nil, fmt.Errorf("client id: required")
	}
	if cfg.ClientSecret == "" {
		return cfg, nil, fmt.Errorf("client secret: required")
	}
	if cfg.RateLimit < 0 || math.IsNaN(cfg.RateLimit) || math.IsInf(cfg.RateLimit, 0) {
		return cfg, nil, fmt.Errorf("rate limit %v: must be a finite number >= 0 (0 = no limit)", cfg.RateLimit)
	}
	if cfg.RateBurst < 0 {
		return cfg, nil, fmt.Errorf("rate burst %d: must be >= 0 (0 = 1)", cfg.RateBurst)
	}
	if cfg.RateBurst == 0 {
		cfg.RateBurst = 1
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"request timeout", &cfg.RequestTimeout, DefaultRequestTimeout},
		{"retry max elapsed", &cfg.RetryMaxElapsed, DefaultRetryMaxElapsed},
		{"retry initial interval", &cfg.RetryInitialInterval, DefaultRetryInitialInterval},
		{"retry max interval", &cfg.RetryMaxInterval, DefaultRetryMaxInterval},
		{"token expiry margin", &cfg.TokenExpiryMargin, DefaultTokenExpiryMargin},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return cfg, nil, fmt.Errorf("%s %v: must be >= 0 (0 = default %v)", d.name, *d.v, d.def)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if cfg.RetryMaxInterval < cfg.RetryInitialInterval {
		return cfg, nil, fmt.Errorf("retry max interval %v: must be >= retry initial interval %v", cfg.RetryMaxInterval, cfg.RetryInitialInterval)
	}
	if cfg.MaxResponseBytes < 0 {
		return cfg, nil, fmt.Errorf("max response bytes %d: must be >= 0 (0 = default %d)", cfg.MaxResponseBytes, DefaultMaxResponseBytes)
	}
	if cfg.MaxResponseBytes == 0 {
		cfg.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return cfg, api, nil
}

func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err.(*url.Error).Err // *url.Error repeats the URL, which may hold a password
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme must be http or https")
	}
	if u.Host == "" {
		return nil, fmt.Errorf("missing host")
	}
	if u.User != nil {
		return nil, fmt.Errorf("must not carry credentials")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("must not carry a query or fragment")
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u, nil
}

type nopObserver struct{}

func (nopObserver) Request(string, int, error, time.Duration) {}
func (nopObserver) Retry(string, int, time.Duration)          {}
func (nopObserver) Budget(Lane, time.Duration)                {}

// redactURL hides a password in s, so a URL that carries credentials can be
// named in an error.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		return u.Redacted()
	}
	return s
}
