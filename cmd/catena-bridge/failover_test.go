package main

import (
	"io"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// failoverTarget is the bound on a takeover after the active
// replica dies: the 6 s session timeout, a heartbeat, the rebalance and
// the new term's start.
const failoverTarget = 15 * time.Second

// readyz returns the child's /readyz status and body; 0 while the endpoint
// is not up.
func (c *child) readyz() (int, string) {
	resp, err := http.Get("http://" + c.admin + "/readyz")
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz waits until the child's /readyz answers code with a body
// holding want, and returns how long that took.
func (c *child) waitReadyz(t *testing.T, code int, want string, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, body := c.readyz()
		if got == code && strings.Contains(body, want) {
			return time.Since(start)
		}
		select {
		case <-c.done:
			t.Fatalf("child exited (%d) before /readyz answered %d %q; output:\n%s", c.code, code, want, c.stderr)
		default:
		}
		if time.Since(start) > timeout {
			t.Fatalf("/readyz answered %d %q, not %d %q, within %v; output:\n%s", got, body, code, want, timeout, c.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polls the child's /readyz
	}
}

// failover is two replicas of one live tail with STANDBY=true on a real
// broker: a is active, b stands by.
type failover struct {
	e     *crashEnv
	start time.Time
	env   []string
	a, b  *child
}

func newFailover(t *testing.T) *failover {
	if os.Getenv("KAFKA_BROKERS") == "" {
		t.Skip("needs a real broker: KAFKA_BROKERS (make test-kafka and .ci/run set it)")
	}
	cfg := crashSim(2, 3)
	// Real time, a point per vehicle per second: the tail always has new
	// data, so a replica that wakes up fenced has something to commit.
	cfg.Clock, cfg.ReportInterval = nil, time.Second
	f := &failover{e: newCrashEnv(t, cfg), start: time.Now().UTC(),
		env: []string{"STANDBY=true", "POLL_INTERVAL=100ms", "SWEEP_INTERVAL=1s", "LOOKBACK=10m", "GAP_THRESHOLD=5m"}}
	f.a = f.e.start(f.env, "run")
	t.Logf("a: active after %v", f.a.waitReadyz(t, 200, "standby: ok", time.Minute))
	f.a.waitPublished(t, 1, time.Minute)
	f.b = f.e.start(f.env, "run")
	f.b.waitReadyz(t, 503, "standby: standby: another replica is active", time.Minute)
	return f
}

// takeover waits until b is active and has committed, and reports both
// times from since.
func (f *failover) takeover(t *testing.T, since time.Time, limit time.Duration) {
	t.Helper()
	f.b.waitReadyz(t, 200, "standby: ok", limit)
	ready := time.Since(since)
	f.b.waitPublished(t, 1, limit)
	committed := time.Since(since)
	t.Logf("takeover: b ready (/readyz 200) %.2fs, b's first commit %.2fs after the event", ready.Seconds(), committed.Seconds())
	if committed > limit {
		t.Errorf("b took %v to commit, over %v", committed, limit)
	}
}

// check stops b after it has swept past now and finds every record visible
// since the test began exactly once.
func (f *failover) check(t *testing.T) {
	t.Helper()
	end := time.Now().UTC()
	// Two sweeps (SWEEP_INTERVAL=1s) after end re-read what a takeover
	// left between two replicas.
	f.b.waitPublished(t, f.b.published()+1, time.Minute)
	time.Sleep(3 * time.Second)
	f.b.cmd.Process.Signal(syscall.SIGTERM)
	if code := f.b.wait(t, time.Minute); code != 0 {
		t.Fatalf("b exit %d on SIGTERM:\n%s", code, f.b.stderr)
	}
	events, dlq := f.e.readTopics()
	// The first start publishes the last LOOKBACK (10m): everything from
	// a minute inside it on must be there, once.
	valid, malformed := verify.Truth(f.e.sim, f.start.Add(-9*time.Minute), end, end)
	f.once(t, "events", events, valid)
	f.once(t, "dead letters", dlq, malformed)
}

// once checks that every record of want is in got, and that no record is
// in got twice.
func (f *failover) once(t *testing.T, what string, got []*kgo.Record, want map[string]catenasim.Point) {
	t.Helper()
	n := map[string]int{}
	for _, r := range got {
		n[verify.Header(r, "catena-id")]++
	}
	missing, twice := 0, 0
	for id := range want {
		if n[id] == 0 {
			missing++
		}
	}
	for _, c := range n {
		if c > 1 {
			twice++
		}
	}
	t.Logf("%s: %d in the topic, %d expected since the test began (less 9m)", what, len(got), len(want))
	if missing > 0 || twice > 0 || len(want) == 0 {
		t.Errorf("%s: %d of %d expected missing, %d published more than once", what, missing, len(want), twice)
	}
}

// TestFailoverKill: SIGKILL the active replica mid-stream; the standby
// takes over within 15 s and every record is published exactly once.
func TestFailoverKill(t *testing.T) {
	f := newFailover(t)
	f.a.waitPublished(t, f.a.published()+1, time.Minute) // mid-stream
	f.a.cmd.Process.Signal(syscall.SIGKILL)
	killed := time.Now()
	f.a.wait(t, time.Minute)
	f.takeover(t, killed, failoverTarget)
	f.check(t)
}

// TestFailoverStop: SIGTERM the active replica; it commits, leaves the group
// and exits 0, and the standby takes over at once: well within the 6 s
// session timeout it would otherwise wait.
func TestFailoverStop(t *testing.T) {
	f := newFailover(t)
	f.a.waitPublished(t, f.a.published()+1, time.Minute)
	f.a.cmd.Process.Signal(syscall.SIGTERM)
	stopped := time.Now()
	f.takeover(t, stopped, 5*time.Second)
	if code := f.a.wait(t, time.Minute); code != 0 {
		t.Fatalf("a exit %d on SIGTERM:\n%s", code, f.a.stderr)
	}
	f.check(t)
}

// TestFailoverPartition: the active replica is partitioned away (SIGSTOP,
// longer than the session timeout); the standby takes over; the old one
// comes back (SIGCONT), is fenced or finds its assignment lost, and stands
// by without exiting. Every record is published exactly once.
func TestFailoverPartition(t *testing.T) {
	f := newFailover(t)
	f.a.waitPublished(t, f.a.published()+1, time.Minute)
	f.a.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := time.Now()
	f.takeover(t, stopped, failoverTarget)
	f.b.waitPublished(t, f.b.published()+1, time.Minute) // b writes: a's producer is fenced
	f.a.cmd.Process.Signal(syscall.SIGCONT)
	f.a.waitReadyz(t, 503, "standby: standby: another replica is active", 30*time.Second)
	// Still standing by a while later, and still running.
	time.Sleep(3 * time.Second)
	if code, body := f.a.readyz(); code != 503 || !strings.Contains(body, "another replica is active") {
		t.Errorf("a after SIGCONT: /readyz %d %q", code, body)
	}
	out := f.a.stderr.String()
	t.Logf("a after SIGCONT, fenced: %v", strings.Contains(out, "fenced"))
	f.check(t)
	f.a.cmd.Process.Signal(syscall.SIGTERM)
	if code := f.a.wait(t, time.Minute); code != 0 {
		t.Fatalf("a exit %d on SIGTERM:\n%s", code, f.a.stderr)
	}
}
