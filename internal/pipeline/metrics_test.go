package pipeline

import (
	"errors"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/catena"
)

// TestAPIReady: readiness follows what an operator can act on. A 429 or one
// 5xx is the client's to retry (a single 429 used to make /readyz fail and
// could stall a rollout); rejected credentials are not ready at once; a
// failing API is not ready once it has failed for the grace period.
func TestAPIReady(t *testing.T) {
	errAPI := errors.New("boom")
	for _, tc := range []struct {
		name      string
		status    int
		err       error
		failedFor time.Duration // how long the failure has lasted
		ready     bool
	}{
		{"2xx", 200, nil, 0, true},
		{"429 is the rate limit at work", 429, errAPI, 0, true},
		{"another 4xx is the request's", 422, errAPI, 0, true},
		{"one 5xx", 503, errAPI, 0, true},
		{"5xx for longer than the grace", 503, errAPI, apiGrace + time.Second, false},
		{"unreachable for longer than the grace", 0, errAPI, apiGrace + time.Second, false},
		{"401", 401, errAPI, 0, false},
		{"token refused", 400, catena.ErrUnauthorized, 0, false},
	} {
		m := NewMetrics(nil)
		m.Request("x", tc.status, tc.err, time.Millisecond)
		if s := m.apiErr.Load(); s != nil && s.err != nil {
			s.since = s.since.Add(-tc.failedFor)
		}
		if err := m.APIReady(); (err == nil) != tc.ready {
			t.Errorf("%s: APIReady() = %v, want ready %v", tc.name, err, tc.ready)
		}
		m.Request("x", 200, nil, time.Millisecond)
		if err := m.APIReady(); err != nil {
			t.Errorf("%s, then a 2xx: APIReady() = %v", tc.name, err)
		}
	}
}
