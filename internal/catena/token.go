package catena

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// token is one cached bearer token. Tokens are compared by pointer: a 401
// invalidates the cache only if it still holds the very token that was used.
type token struct {
	value     string
	refreshAt time.Time // zero: no known expiry, used until a 401
}

// tokenCall is one token request in flight; concurrent callers wait on it
// instead of sending their own.
type tokenCall struct {
	done chan struct{}
	tok  *token
	err  error
	// abandoned: the leader's own context ended, so the error says nothing
	// about the token endpoint and live waiters should fetch again.
	abandoned bool
}

// tokenCache holds the current token and deduplicates renewals: however many
// goroutines need a token at once, one token request goes out.
type tokenCache struct {
	c *Client // for fetch: rate limit, retries, observer

	cc     clientcredentials.Config
	hc     *http.Client // token requests: base transport, User-Agent set
	margin time.Duration

	mu       sync.Mutex
	cur      *token
	inflight *tokenCall
}

// get returns a valid token, fetching one if the cache is empty or the token
// is within its expiry margin. The fetch runs on the goroutine of the first
// caller, with its context; if that context ends, waiters whose own context
// is still alive start a new fetch rather than inherit the cancellation.
func (tc *tokenCache) get(ctx context.Context) (*token, error) {
	for {
		tc.mu.Lock()
		if t := tc.cur; t != nil && (t.refreshAt.IsZero() || time.Now().Before(t.refreshAt)) {
			tc.mu.Unlock()
			return t, nil
		}
		if call := tc.inflight; call != nil {
			tc.mu.Unlock()
			select {
			case <-call.done:
				if call.abandoned && ctx.Err() == nil {
					continue // the leader gave up, not us
				}
				return call.tok, call.err
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		call := &tokenCall{done: make(chan struct{})}
		tc.inflight = call
		tc.mu.Unlock()

		call.tok, call.err = tc.fetch(ctx)
		call.abandoned = call.err != nil && ctx.Err() != nil

		tc.mu.Lock()
		if call.err == nil {
			tc.cur = call.tok
		}
		tc.inflight = nil
		tc.mu.Unlock()
		close(call.done)
		return call.tok, call.err
	}
}

// invalidate drops used from the cache after the API rejected it, unless a
// concurrent caller already replaced it: that newer token must survive.
func (tc *tokenCache) invalidate(used *token) {
	tc.mu.Lock()
	if tc.cur == used {
		tc.cur = nil
	}
	tc.mu.Unlock()
}

// fetch performs the client-credentials grant, with the Client's rate limit,
// per-attempt timeout and retries (5xx, 429, transport errors).
func (tc *tokenCache) fetch(ctx context.Context) (*token, error) {
	ctx = context.WithValue(ctx, oauth2.HTTPClient, tc.hc)
	var ot *oauth2.Token
	err := tc.c.retry(ctx, "token", "POST", EndpointToken, func(ctx context.Context) (attemptResult, error) {
		if err := tc.c.wait(ctx); err != nil {
			return attemptResult{}, err
		}
		actx, cancel := context.WithTimeout(ctx, tc.c.cfg.RequestTimeout)
		defer cancel()
		start := time.Now()
		t, err := tc.cc.Token(actx)
		d := time.Since(start)
		if err == nil {
			tc.c.cfg.Observer.Request(EndpointToken, http.StatusOK, nil, d)
			ot = t
			return attemptResult{}, nil
		}
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			status := re.Response.StatusCode
			terr := tokenError(status, re)
			tc.c.cfg.Observer.Request(EndpointToken, status, terr, d)
			res := attemptResult{status: status}
			if retryableStatus(status) {
				res.retryable = true
				res.retryAfter = retryAfterHeader(re.Response.Header.Get("Retry-After"), time.Now())
			}
			return res, terr
		}
		// Transport error, attempt timeout, or an unparsable 2xx body.
		tc.c.cfg.Observer.Request(EndpointToken, 0, err, d)
		return attemptResult{retryable: retryableTransport(err)}, fmt.Errorf("token request: %w", unwrapURLError(err))
	})
	if err != nil {
		return nil, err
	}
	now := time.Now()
	t := &token{value: ot.AccessToken}
	expiry := ot.Expiry
	if expiry.IsZero() {
		// expires_in absent or 0 (the spec's example): fall back to the JWT's
		// exp claim, as the official SDK does.
		expiry = jwtExpiry(ot.AccessToken)
	}
	if !expiry.IsZero() {
		margin := tc.margin
		if life := expiry.Sub(now); margin > life/2 {
			margin = max(life/2, 0)
		}
		t.refreshAt = expiry.Add(-margin)
	}
	tc.c.cfg.Logger.Debug("catena: token renewed", "expires_in", time.Until(expiry).Round(time.Second))
	return t, nil
}

// tokenError renders a token endpoint error without the request (which
// carries the secret): "token request: invalid_client: Invalid client or
// Invalid client credentials". A 401/400 invalid_client wraps ErrUnauthorized.
func tokenError(status int, re *oauth2.RetrieveError) error {
	desc := re.ErrorDescription
	code := re.ErrorCode
	if code == "" {
		code = fmt.Sprintf("%d %s", status, http.StatusText(status))
		desc = bodyExcerpt(re.Body)
	}
	msg := "token request: " + code
	if desc != "" {
		msg += ": " + desc
	}
	if status == http.StatusUnauthorized || re.ErrorCode == "invalid_client" || re.ErrorCode == "unauthorized_client" {
		return fmt.Errorf("%s: %w", msg, ErrUnauthorized)
	}
	return errors.New(msg)
}

// jwtExpiry reads the exp claim of a JWT without verifying it; zero if the
// token is not a JWT or has no exp.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(claims.Exp), 0)
}

// uaTransport sets the User-Agent on token requests, which the oauth2
// package builds itself.
type uaTransport struct{ base http.RoundTripper }

func (t uaTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.Header.Set("User-Agent", userAgent)
	return t.base.RoundTrip(r2)
}
