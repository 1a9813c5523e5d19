package catena

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Client is a Catena API client. It is safe for concurrent use; share one
// per process so that the token, rate limit and connections are shared.
type Client struct {
	cfg     Config
	baseURL string // APIURL without trailing slash
	hc      *http.Client
	budget  *budget // nil: no limit
	tokens  tokenCache
}

// New validates cfg, applies the defaults documented on Config and returns a
// Client. It sends nothing: the first request fetches the token. Errors name
// the offending field and value, e.g. `api url "ftp://x": scheme must be http
// or https`.
func New(cfg Config) (*Client, error) {
	cfg, api, err := cfg.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("catena: config: %w", err)
	}
	var hc http.Client
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	if hc.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Backfills fetch many vehicles in parallel from one host; the
		// default of 2 idle connections per host would churn connections.
		t.MaxIdleConnsPerHost = 64
		hc.Transport = t
	}
	// Credentials stay with the configured origins. The API's bearer token
	// follows a redirect only to the API's own scheme, host and port (Go
	// would send it to another port of the same host); the token request,
	// which carries the client secret, follows none.
	origin := api.Scheme + "://" + api.Host
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if got := req.URL.Scheme + "://" + req.URL.Host; got != origin {
			return fmt.Errorf("%w: to %s; the API's credentials are only sent to %s", errRedirect, got, origin)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	c := &Client{cfg: cfg, baseURL: api.String(), hc: &hc}
	if cfg.RateLimit > 0 {
		c.budget = newBudget(cfg.RateLimit, cfg.RateBurst)
	}
	thc := hc
	thc.Transport = uaTransport{hc.Transport}
	thc.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		return fmt.Errorf("%w: the token endpoint redirected to %s://%s; the token request follows no redirect, so the client secret stays with CATENA_TOKEN_URL", errRedirect, req.URL.Scheme, req.URL.Host)
	}
	c.tokens = tokenCache{
		c: c,
		cc: clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret,
			TokenURL:     cfg.TokenURL,
			Scopes:       []string{"organization"},
			// The contract wants the credentials in the form body; setting it
			// also avoids oauth2's auto-detection, which costs a failed request.
			AuthStyle: oauth2.AuthStyleInParams,
		},
		hc:     &thc,
		margin: cfg.TokenExpiryMargin,
	}
	return c, nil
}

// request is one API call, independent of its attempts.
type request struct {
	op       string // operation id, for APIError.Op
	method   string
	endpoint string // path template
	url      string // full URL, query included
	body     []byte // JSON body; nil for none
	// once marks a request that must not be repeated once the API may have
	// acted on it (CreateWebhook: a generated secret is shown only in the
	// first answer). It is retried only when the API certainly did not act:
	// a 429, a 401 before the token's renewal, a connection never opened;
	// any other failure ends at once, wrapping ErrOutcomeUnknown when the
	// request may have been carried out.
	once bool
	// tookBody is set by onOK when what it returned keeps the body's
	// memory (a location page's items, scanRawPage): the pooled buffer
	// then gets other memory, and the body's goes back to the pool only
	// through ReleaseItems.
	tookBody bool
}

// attemptResult tells retry what to do after a failed attempt.
type attemptResult struct {
	status     int           // 0: no HTTP response
	retryable  bool          // retry after back-off
	retryNow   bool          // retry at once (after a token renewal)
	retryAfter time.Duration // lower bound for the wait, from the server
}

// do sends r with authentication, rate limit and retries, and hands a 2xx
// body to onOK. The body slice is only valid during onOK.
func (c *Client) do(ctx context.Context, r *request, onOK func(status int, body []byte) error) error {
	refreshed := false
	return c.retry(ctx, r.op, r.method, r.endpoint, func(ctx context.Context) (attemptResult, error) {
		tok, err := c.tokens.get(ctx)
		if err != nil {
			return attemptResult{}, err // already retried by the token fetch
		}
		if err := c.wait(ctx); err != nil {
			return attemptResult{}, err
		}
		actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		defer cancel()
		var body io.Reader
		if r.body != nil {
			body = bytes.NewReader(r.body)
		}
		req, err := http.NewRequestWithContext(actx, r.method, r.url, body)
		if err != nil {
			return attemptResult{}, fmt.Errorf("%s %s: %w", r.method, r.endpoint, err)
		}
		req.Header.Set("Authorization", "Bearer "+tok.value)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("User-Agent", userAgent)
		if r.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}

		start := time.Now()
		resp, err := c.hc.Do(req)
		if err != nil {
			c.cfg.Observer.Request(r.endpoint, 0, err, time.Since(start))
			err = fmt.Errorf("%s %s: %w", r.method, r.endpoint, unwrapURLError(err))
			if r.once && !notSent(err) {
				// Even when the caller gave up, the request may have arrived.
				return attemptResult{}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
			}
			return attemptResult{retryable: retryableTransport(err)}, err
		}
		buf := getBuffer()
		defer func() {
			if r.tookBody {
				// The page's items are the body: this buffer
				// reads the next body into memory a released page
				// gave back (or new memory).
				*buf = *bytes.NewBuffer(getItemsBuf(0))
			}
			putBuffer(buf)
		}()
		err = readBody(resp, buf, c.cfg.MaxResponseBytes)
		d := time.Since(start)
		status := resp.StatusCode
		if err != nil {
			c.cfg.Observer.Request(r.endpoint, status, err, d)
			err = fmt.Errorf("%s %s: %d response: %w", r.method, r.endpoint, status, err)
			if r.once {
				if status >= 200 && status < 300 || status >= 500 {
					err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
				}
				return attemptResult{status: status}, err
			}
			return attemptResult{status: status, retryable: retryableTransport(err)}, err
		}
		if status >= 200 && status < 300 {
			c.cfg.Observer.Request(r.endpoint, status, nil, d)
			if err := onOK(status, buf.Bytes()); err != nil {
				err = fmt.Errorf("%s %s: decode %d response: %w", r.method, r.endpoint, status, err)
				if r.once {
					err = fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
				}
				return attemptResult{status: status}, err
			}
			return attemptResult{status: status}, nil
		}
		apiErr := newAPIError(r.op, r.method, r.url, status, resp.Header, buf.Bytes(), time.Now())
		c.cfg.Observer.Request(r.endpoint, status, apiErr, d)
		if status == http.StatusUnauthorized {
			if !refreshed {
				// The token may have been revoked or expired early: renew it
				// once. Only this token is dropped; a renewal another
				// goroutine already made is kept.
				refreshed = true
				c.tokens.invalidate(tok)
				return attemptResult{status: status, retryNow: true}, apiErr
			}
			return attemptResult{status: status}, fmt.Errorf("%w (after renewing the token): %w", apiErr, ErrUnauthorized)
		}
		if r.once && status != http.StatusTooManyRequests {
			if status >= 500 || status == http.StatusRequestTimeout {
				return attemptResult{status: status}, fmt.Errorf("%w: %w", ErrOutcomeUnknown, apiErr)
			}
			return attemptResult{status: status}, apiErr
		}
		return attemptResult{status: status, retryable: retryableStatus(status), retryAfter: apiErr.RetryAfter}, apiErr
	})
}

// retry runs attempt until it succeeds, fails permanently, the context ends
// or the next wait would end past RetryMaxElapsed. Waits grow exponentially
// with jitter and are at least what the server asked for (Retry-After).
func (c *Client) retry(ctx context.Context, op, method, endpoint string, attempt func(context.Context) (attemptResult, error)) error {
	start := time.Now()
	var b *backoff.ExponentialBackOff // created on the first failure: the happy path allocates nothing
	for n := 1; ; n++ {
		res, err := attempt(ctx)
		if err == nil {
			return nil
		}
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(err, cerr) {
				return err
			}
			return fmt.Errorf("%w: %w", cerr, err)
		}
		if res.retryNow {
			continue
		}
		if !res.retryable {
			return err
		}
		if b == nil {
			b = backoff.NewExponentialBackOff(
				backoff.WithInitialInterval(c.cfg.RetryInitialInterval),
				backoff.WithMaxInterval(c.cfg.RetryMaxInterval),
				backoff.WithMaxElapsedTime(0), // bounded below, Retry-After included
			)
		}
		wait := max(b.NextBackOff(), res.retryAfter)
		elapsed := time.Since(start)
		if elapsed+wait > c.cfg.RetryMaxElapsed {
			return fmt.Errorf("%w: giving up after %d attempts in %v (retry max elapsed %v): %w",
				ErrUnavailable, n, elapsed.Round(time.Millisecond), c.cfg.RetryMaxElapsed, err)
		}
		c.cfg.Logger.Warn("catena: retrying request",
			"op", op, "method", method, "endpoint", endpoint, "status", res.status,
			"err", err.Error(), "attempt", n, "wait", wait)
		c.cfg.Observer.Retry(endpoint, res.status, wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (waiting to retry after: %v)", ctx.Err(), err)
		}
	}
}

// wait blocks until the rate limit allows one more request in ctx's lane
// (LaneOf), and tells the Observer.
func (c *Client) wait(ctx context.Context) error {
	lane := LaneOf(ctx)
	if c.budget == nil {
		c.cfg.Observer.Budget(lane, 0)
		return nil
	}
	start := time.Now()
	if err := c.budget.wait(ctx, lane); err != nil {
		return err
	}
	c.cfg.Observer.Budget(lane, time.Since(start))
	return nil
}

// Utilisation is the share of Config.RateLimit spent over the last minute,
// 0 to 1; 0 without a limit.
func (c *Client) Utilisation() float64 {
	if c.budget == nil {
		return 0
	}
	return c.budget.utilisation(time.Now())
}

// RateLimit is the configured rate limit in requests per second; 0 means
// none.
func (c *Client) RateLimit() float64 { return c.cfg.RateLimit }

// retryableStatus reports whether a status is worth retrying: throttling and
// transient server errors. 501 and the 4xx are the request's own fault.
func retryableStatus(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusRequestTimeout,
		http.StatusInternalServerError, http.StatusBadGateway,
		http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// errRedirect is a redirect the client refuses to follow: no retry changes it.
var errRedirect = errors.New("redirect refused")

// retryableTransport reports whether a transport or body-read error may go
// away: timeouts, resets, EOFs, refused connections do; certificate errors
// and oversized bodies do not. Cancellation of the caller's context is
// checked separately by retry.
func retryableTransport(err error) bool {
	var (
		uae *x509.UnknownAuthorityError
		hne x509.HostnameError
		cie x509.CertificateInvalidError
		cve *tls.CertificateVerificationError
	)
	switch {
	case errors.Is(err, errBodyTooLarge), errors.Is(err, errRedirect),
		errors.As(err, &uae), errors.As(err, &hne), errors.As(err, &cie), errors.As(err, &cve):
		return false
	}
	return true
}

// unwrapURLError drops *url.Error's "Get \"https://...\":" prefix: callers
// already name the method and endpoint.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

var errBodyTooLarge = errors.New("response body too large")

// readBody reads resp.Body into buf, at most limit bytes, and closes it. A
// body within the limit is read to EOF so the connection can be reused.
func readBody(resp *http.Response, buf *bytes.Buffer, limit int64) error {
	defer resp.Body.Close()
	if resp.ContentLength > limit {
		return fmt.Errorf("%w: content-length %d exceeds max response bytes %d", errBodyTooLarge, resp.ContentLength, limit)
	}
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if n > limit {
		return fmt.Errorf("%w: exceeds max response bytes %d", errBodyTooLarge, limit)
	}
	return nil
}

// bufferPool recycles response buffers: pages are read whole, then decoded
// into fresh values, so a buffer is free again once the page is decoded.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBuffer = 16 << 20

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	bufferPool.Put(b)
}
