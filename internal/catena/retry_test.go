package catena

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// scripted answers the i-th request with steps[i] (the last one repeats).
func scripted(steps ...func(w http.ResponseWriter, r *http.Request)) http.HandlerFunc {
	var n atomic.Int64
	return func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		steps[min(i, len(steps)-1)](w, r)
	}
}

func status(code int, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) { writeJSON(w, code, body) }
}

var okPage = status(http.StatusOK, pageJSON(nil, 0, ""))

func Test429HonoursRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header func(now time.Time) string
		body   string
		wait   time.Duration
	}{
		{"header seconds", func(time.Time) string { return "7" }, `{"code":429,"message":"Too Many Requests"}`, 7 * time.Second},
		{"header http-date", func(now time.Time) string { return now.Add(11 * time.Second).UTC().Format(http.TimeFormat) },
			`{"code":429}`, 11 * time.Second},
		{"body retry_after_seconds", nil,
			`{"code":429,"message":"Too Many Requests","detail":{"retry_after_seconds":12,"message":"slow down"}}`, 12 * time.Second},
		{"larger of header and body", func(time.Time) string { return "3" },
			`{"code":429,"detail":{"retry_after_seconds":9,"message":"slow down"}}`, 9 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFake(t)
				f.handle("GET /v2/telematics/vehicle-locations", scripted(
					func(w http.ResponseWriter, r *http.Request) {
						if tt.header != nil {
							w.Header().Set("Retry-After", tt.header(time.Now()))
						}
						writeJSON(w, http.StatusTooManyRequests, tt.body)
					},
					okPage,
				))
				obs := &recordingObserver{}
				// A back-off far shorter than the server's wait: only
				// Retry-After can explain a long pause.
				c := f.client(func(cfg *Config) {
					cfg.RetryInitialInterval = 10 * time.Millisecond
					cfg.RetryMaxInterval = 20 * time.Millisecond
					cfg.Observer = obs
				})
				if _, err := c.LatestLocations(LocationQuery{}, "").Next(context.Background()); err != nil {
					t.Fatal(err)
				}
				reqs := f.requests()
				if len(reqs) != 2 {
					t.Fatalf("%d requests, want 2", len(reqs))
				}
				gap := reqs[1].at.Sub(reqs[0].at)
				if gap < tt.wait {
					t.Fatalf("retried after %v, before the requested %v", gap, tt.wait)
				}
				if gap > tt.wait+time.Second {
					t.Fatalf("retried after %v, much later than the requested %v", gap, tt.wait)
				}
				if len(obs.retries) != 1 || obs.retries[0] != EndpointVehicleLocations+" 429" {
					t.Fatalf("observed retries %v", obs.retries)
				}
			})
		})
	}
}

func Test5xxRetriedThenSuccess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", scripted(
			status(500, `{"message":"Internal Server Error"}`),
			status(502, `<html>bad gateway</html>`),
			status(503, ``),
			status(504, `{"message":"Gateway Timeout"}`),
			okPage,
		))
		obs := &recordingObserver{}
		var logs strings.Builder
		c := f.client(func(cfg *Config) {
			cfg.Observer = obs
			cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		})
		start := time.Now()
		if _, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(f.requests()); n != 5 {
			t.Fatalf("%d requests, want 5", n)
		}
		want := []string{"500", "502", "503", "504"}
		for i, r := range obs.retries {
			if !strings.HasSuffix(r, want[i]) {
				t.Fatalf("retries %v, want statuses %v", obs.retries, want)
			}
		}
		lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
		if len(lines) != 4 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "status=500") ||
			!strings.Contains(lines[0], "wait=") || !strings.Contains(lines[1], "status=502") {
			t.Fatalf("retry logs:\n%s", logs.String())
		}
		if strings.Contains(logs.String(), "tok-") || strings.Contains(logs.String(), testClientSecret) {
			t.Fatalf("logs leak a secret:\n%s", logs.String())
		}
		// 4 waits of 500ms*1.5^i ± 50%: between ~2s and ~6.1s.
		if d := time.Since(start); d < 2*time.Second || d > 7*time.Second {
			t.Fatalf("retries took %v of back-off", d)
		}
	})
}

func TestClientErrorsNotRetried(t *testing.T) {
	for _, tt := range []struct {
		status  int
		body    string
		wantErr string
	}{
		{422, `{"code":422,"message":"Invalid Request Body","detail":[{"path":"query.size","input":"5000","message":"Input should be less than or equal to 1000","error_type":"less_than_equal"}]}`,
			`GET /v2/telematics/vehicle-locations: 422 Invalid Request Body: query.size: Input should be less than or equal to 1000 (input "5000")`},
		{400, `{"code":400,"message":"Bad Request","detail":"vehicle_ids: exactly one value required"}`,
			`GET /v2/telematics/vehicle-locations: 400 Bad Request: vehicle_ids: exactly one value required`},
		{403, `{"code":403,"message":"Forbidden","detail":null}`, `GET /v2/telematics/vehicle-locations: 403 Forbidden`},
		{404, `{"code":404,"message":"Not Found"}`, `404 Not Found`},
		{405, `{"code":405}`, `405 Method Not Allowed`},
		{409, `{"code":409,"message":"Conflict","detail":"busy"}`, `409 Conflict: busy`},
		{501, `{"code":501,"message":"Not Implemented"}`, `501 Not Implemented`},
	} {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			f := newFake(t)
			f.handle("GET /v2/telematics/vehicle-locations", status(tt.status, tt.body))
			c := f.client(nil)
			_, err := c.LatestLocations(LocationQuery{}, "").Next(context.Background())
			var apiErr *APIError
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.Op != "list_vehicle_locations" {
				t.Fatalf("err = %v, want *APIError %d", err, tt.status)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %q\nwant it to contain %q", err, tt.wantErr)
			}
			if apiErr.Error() != tt.wantErr && strings.HasPrefix(tt.wantErr, "GET") {
				t.Fatalf("APIError.Error() = %q, want %q", apiErr.Error(), tt.wantErr)
			}
			if n := len(f.requests()); n != 1 {
				t.Fatalf("%d requests, want exactly 1", n)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("a %d wraps ErrUnavailable: a caller would wait for it in vain", tt.status)
			}
		})
	}
}

func TestRetryMaxElapsedBoundsRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", status(503, `{"message":"Service Unavailable"}`))
		c := f.client(func(cfg *Config) {
			cfg.RetryMaxElapsed = 10 * time.Second
			cfg.RetryInitialInterval = time.Second
			cfg.RetryMaxInterval = 2 * time.Second
		})
		start := time.Now()
		_, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background())
		elapsed := time.Since(start)
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 503 || !strings.Contains(err.Error(), "giving up after") {
			t.Fatalf("err = %v", err)
		}
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("err = %v, want it to wrap ErrUnavailable: a caller may wait and try again", err)
		}
		if elapsed > 10*time.Second {
			t.Fatalf("retried for %v, past RetryMaxElapsed 10s", elapsed)
		}
		if n := len(f.requests()); n < 4 {
			t.Fatalf("only %d attempts in %v", n, elapsed)
		}
	})
}

func TestRetryAfterBeyondBudgetGivesUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", status(429, `{"code":429,"detail":{"retry_after_seconds":600,"message":"quota"}}`))
		c := f.client(func(cfg *Config) { cfg.RetryMaxElapsed = time.Minute })
		start := time.Now()
		_, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background())
		if err == nil || time.Since(start) != 0 || len(f.requests()) != 1 {
			t.Fatalf("err %v after %v and %d requests; want an immediate error", err, time.Since(start), len(f.requests()))
		}
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.RetryAfter != 600*time.Second {
			t.Fatalf("err = %v, want RetryAfter 600s", err)
		}
	})
}

func TestRequestTimeoutRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", scripted(
			func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, // hangs
			okPage,
		))
		c := f.client(func(cfg *Config) { cfg.RequestTimeout = 5 * time.Second })
		start := time.Now()
		if _, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d < 5*time.Second {
			t.Fatalf("succeeded after %v, before the 5s attempt timeout", d)
		}
		if n := len(f.requests()); n != 2 {
			t.Fatalf("%d requests, want 2", n)
		}
	})
}

func TestContextCancelStopsRetrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", status(503, ``))
		c := f.client(nil)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Vehicles(VehicleQuery{}, "").Next(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 3*time.Second {
			t.Fatalf("returned after %v, want at the 3s deadline", d)
		}
	})
}

func TestRateLimitSharedByAllRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake(t)
		f.handle("GET /v2/telematics/vehicles", okPage)
		c := f.client(func(cfg *Config) { cfg.RateLimit = 5 })
		start := time.Now()
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := c.Vehicles(VehicleQuery{}, "").Next(context.Background()); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		// 11 requests (1 token + 10 API) spaced 200ms apart: 2s.
		d := time.Since(start)
		if d < 1800*time.Millisecond || d > 2200*time.Millisecond {
			t.Fatalf("10 requests at 5 rps took %v, want ~2s", d)
		}
		reqs := f.requests()
		for i := 1; i < len(reqs); i++ {
			if gap := reqs[i].at.Sub(reqs[i-1].at); gap < 200*time.Millisecond {
				t.Fatalf("requests %d and %d only %v apart", i-1, i, gap)
			}
		}
	})
}

func TestMaxResponseBytes(t *testing.T) {
	f := newFake(t)
	big := pageJSON([]string{locationJSON(1), locationJSON(2), locationJSON(3)}, 3, "")
	f.handle("GET /v2/telematics/vehicle-locations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.(http.Flusher).Flush() // chunked: no Content-Length, so the cap applies while reading
		w.Write([]byte(big))
	})
	c := f.client(func(cfg *Config) { cfg.MaxResponseBytes = 2000 })
	_, err := c.LatestLocations(LocationQuery{}, "").Next(context.Background())
	if err == nil || !strings.Contains(err.Error(), "max response bytes 2000") {
		t.Fatalf("err = %v, want the limit named", err)
	}
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests: an oversized body must not be retried", n)
	}
}
