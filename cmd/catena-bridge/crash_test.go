package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/catena-bridge/catena-bridge/internal/catenasim"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// crashEnv is a simulator, a registry and a broker shared by the bridge
// processes of one test.
type crashEnv struct {
	t         *testing.T
	sim       *catenasim.Server
	api       string
	registry  *srfake.Registry
	brokers   string
	realKafka bool
	topic     string
}

func newCrashEnv(t *testing.T, cfg catenasim.Config) *crashEnv {
	e := &crashEnv{t: t}
	sim, err := catenasim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	e.api = srv.URL
	e.registry = srfake.New()
	t.Cleanup(e.registry.Close)
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		e.brokers, e.realKafka = b, true
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		e.brokers = strings.Join(c.ListenAddrs(), ",")
	}
	var b [4]byte
	rand.Read(b[:])
	e.topic = "crash." + strings.ReplaceAll(t.Name(), "/", "_") + "." + hex.EncodeToString(b[:])
	return e
}

// child is one bridge process.
type child struct {
	cmd    *exec.Cmd
	admin  string
	stderr *bytes.Buffer
	done   chan struct{}
	code   int
}

func (e *crashEnv) start(extraEnv []string, args ...string) *child {
	e.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	admin := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(),
		"CATENA_BRIDGE_CHILD=1",
		"CATENA_API_URL="+e.api,
		"CATENA_TOKEN_URL="+e.api+"/realms/catena/protocol/openid-connect/token",
		"CATENA_CLIENT_ID=demo", "CATENA_CLIENT_SECRET=demo",
		"CATENA_RATE_LIMIT=0",
		"CATENA_PAGE_SIZE=300", // several pages per vehicle window: the simulator repeats records across them
		"KAFKA_BROKERS="+e.brokers,
		"KAFKA_TOPIC="+e.topic,
		"KAFKA_PARTITIONS=6",
		"SCHEMA_REGISTRY_URL="+e.registry.URL(),
		"ADMIN_ADDR="+admin,
		"LOG_LEVEL=warn",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	c := &child{cmd: cmd, admin: admin, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	cmd.Stdout = c.stderr
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		cmd.Wait()
		c.code = cmd.ProcessState.ExitCode()
		close(c.done)
	}()
	e.t.Cleanup(func() { cmd.Process.Kill(); <-c.done })
	return c
}

// published reads the child's events_published_total from /metrics; -1
// while the endpoint is not up.
func (c *child) published() int64 {
	resp, err := http.Get("http://" + c.admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "catena_bridge_events_published_total "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return int64(f)
		}
	}
	return -1
}

// waitPublished waits until the child published at least n events in this
// process, or exited; it reports whether the child is still running.
func (c *child) waitPublished(t *testing.T, n int64, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-c.done:
			return false
		default:
		}
		if c.published() >= n {
			return true
		}
		if time.Now().After(deadline) {
			t.Fatalf("child published %d of %d events within %v; output:\n%s", c.published(), n, timeout, c.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polls the child's /metrics
	}
}

func (c *child) wait(t *testing.T, timeout time.Duration) int {
	select {
	case <-c.done:
		return c.code
	case <-time.After(timeout):
		// SIGQUIT makes the Go runtime print every goroutine: where it hangs.
		c.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
		}
		t.Fatalf("child did not exit within %v; output (goroutines after SIGQUIT):\n%s", timeout, c.stderr)
		return -1
	}
}

func randBetween(lo, hi int64) int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(hi-lo))
	return lo + n.Int64()
}

// readTopics reads the events and DLQ topics as a read_committed consumer.
func (e *crashEnv) readTopics() (events, dlq []*kgo.Record) {
	r, err := sink.NewReader(sink.Config{Brokers: strings.Split(e.brokers, ","), Topic: e.topic})
	if err != nil {
		e.t.Fatal(err)
	}
	defer r.Close()
	ctx := context.Background()
	if err := r.ReadAll(ctx, e.topic, func(rec *kgo.Record) { events = append(events, rec) }); err != nil {
		e.t.Fatal(err)
	}
	if err := r.ReadAll(ctx, e.topic+".dlq", func(rec *kgo.Record) { dlq = append(dlq, rec) }); err != nil {
		e.t.Fatal(err)
	}
	return events, dlq
}

var crashT0 = time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)

// crashSim is a simulator whose data stays put (a fixed clock): what a
// backfill must publish is known in advance.
func crashSim(fleets, vehicles int) catenasim.Config {
	return catenasim.Config{
		Seed: 11, Fleets: fleets, VehiclesPerFleet: vehicles, ReportInterval: time.Minute,
		Clock:  catenasim.NewManualClock(crashT0),
		Faults: catenasim.Faults{ServerErrorEvery: 31, DuplicateEvery: 2, MalformedEvery: 53},
	}
}

// crashSize is the size of a crash test's backfill: 200 vehicles × 1020
// simulated minutes on a real broker (204,000 records, over 200,000 valid).
func crashSize(t *testing.T, real bool) (fleets, vehicles, minutes int) {
	if s := os.Getenv("CRASH_MINUTES"); s != "" {
		m, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("CRASH_MINUTES=%q: %v", s, err)
		}
		return 20, 10, m
	}
	if real {
		return 20, 10, 1020 // 204,000 records, over 200,000 of them valid
	}
	return 10, 10, 200 // 20,000 records on kfake: same protocol, shorter
}

// TestCrashBackfill kills a backfill with SIGKILL at random moments (by
// progress, not by time) and restarts it each time; a read_committed consumer
// then finds every valid record exactly once and every malformed one exactly
// once in the dead-letter topic.
func TestCrashBackfill(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the crash test runs the bridge as child processes")
	}
	fleets, vehicles, minutes := crashSize(t, os.Getenv("KAFKA_BROKERS") != "")
	e := newCrashEnv(t, crashSim(fleets, vehicles))
	from, to := crashT0.Add(-time.Duration(minutes)*time.Minute), crashT0
	valid, malformed := verify.Truth(e.sim, from, to, crashT0)
	total := int64(len(valid))
	t.Logf("backfill of %d valid and %d malformed records, %d vehicles, brokers %s (real broker: %v)", total, len(malformed), fleets*vehicles, e.brokers, e.realKafka)
	args := []string{"backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}
	kills := 0
	start := time.Now()
	for kills < 5 {
		c := e.start(nil, args...)
		// Kill after 2%..12% of the whole backfill in this process.
		at := randBetween(total/50, total*12/100)
		if !c.waitPublished(t, at, 3*time.Minute) {
			t.Fatalf("backfill finished (exit %d) before kill %d; output:\n%s", c.code, kills+1, c.stderr)
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.wait(t, time.Minute)
		kills++
		t.Logf("kill %d: SIGKILL after >= %d events published by that process (%.1fs)", kills, at, time.Since(start).Seconds())
	}
	c := e.start(nil, args...)
	if code := c.wait(t, 10*time.Minute); code != 0 {
		t.Fatalf("final backfill exit %d; output:\n%s", code, c.stderr)
	}
	t.Logf("final run finished: %s", strings.TrimSpace(lastLine(c.stderr.String())))
	events, dlq := e.readTopics()
	verify.Topic(t, events, dlq, valid, malformed, 6)
	t.Logf("%d kills, %d events, %d dead letters, %.1fs", kills, len(events), len(dlq), time.Since(start).Seconds())
	e.interop(t, len(valid))
}

// TestCrashBackfillOpenEnd: a backfill without --to is killed with SIGKILL
// and run again, twice, then runs to its end, then runs once more: the same
// command is the same job (its end resolved on the first run and kept), so
// every record is published once and the last run publishes nothing.
func TestCrashBackfillOpenEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the crash test runs the bridge as child processes")
	}
	e := newCrashEnv(t, crashSim(10, 10)) // 20,000 records: each run is still under way when killed
	from := crashT0.Add(-200 * time.Minute)
	valid, malformed := verify.Truth(e.sim, from, crashT0, crashT0)
	total := int64(len(valid))
	args := []string{"backfill", "--from", from.Format(time.RFC3339)} // no --to
	for kill := range 2 {
		c := e.start(nil, args...)
		if !c.waitPublished(t, randBetween(total/10, total/4), 3*time.Minute) {
			t.Fatalf("backfill finished (exit %d) before kill %d; output:\n%s", c.code, kill+1, c.stderr)
		}
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.wait(t, time.Minute)
	}
	for run := range 2 {
		c := e.start(nil, args...)
		if code := c.wait(t, 5*time.Minute); code != 0 {
			t.Fatalf("run %d after the kills: exit %d; output:\n%s", run+1, code, c.stderr)
		}
		if run == 1 && !strings.Contains(c.stderr.String(), "(already complete)") {
			t.Errorf("the run after the job finished did not find it complete; output:\n%s", c.stderr)
		}
	}
	events, dlq := e.readTopics()
	verify.Topic(t, events, dlq, valid, malformed, 6)
}

// interop has a consumer in another language read the topic: Python with
// librdkafka (confluent-kafka) and fastavro, decoding through the registry
// and checking ids, keys and partitions (scripts/interop/consume.py). It runs
// where INTEROP_PYTHON and INTEROP_CONSUME are set (make test-kafka, CI).
func (e *crashEnv) interop(t *testing.T, want int) {
	py, script := os.Getenv("INTEROP_PYTHON"), os.Getenv("INTEROP_CONSUME")
	if py == "" || script == "" {
		t.Log("interop check not run: INTEROP_PYTHON and INTEROP_CONSUME unset (make test-kafka sets them)")
		return
	}
	out, err := exec.Command(py, script, "--brokers", e.brokers, "--topic", e.topic,
		"--registry", e.registry.URL(), "--expect-count", strconv.Itoa(want), "--timeout", "300").CombinedOutput()
	if err != nil {
		t.Fatalf("Python consumer (confluent-kafka + fastavro) disagrees: %v\n%s", err, out)
	}
	t.Logf("Python consumer (confluent-kafka + fastavro): %s", strings.TrimSpace(lastLine(string(out))))
}

// TestCrashBrokerRestart stops the broker mid-backfill and starts it again;
// the bridge waits, reports it, and finishes with every record exactly once.
func TestCrashBrokerRestart(t *testing.T) {
	up, down := os.Getenv("KAFKA_UP_CMD"), os.Getenv("KAFKA_DOWN_CMD")
	if up == "" || down == "" || os.Getenv("KAFKA_BROKERS") == "" {
		t.Skip("needs a real broker it may restart: KAFKA_BROKERS, KAFKA_UP_CMD and KAFKA_DOWN_CMD (make test-kafka and .ci/run set them)")
	}
	fleets, vehicles, minutes := crashSize(t, true)
	e := newCrashEnv(t, crashSim(fleets, vehicles))
	from, to := crashT0.Add(-time.Duration(minutes)*time.Minute), crashT0
	valid, malformed := verify.Truth(e.sim, from, to, crashT0)
	total := int64(len(valid))
	c := e.start(nil, "backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339))
	if !c.waitPublished(t, randBetween(total/10, total/4), 3*time.Minute) {
		t.Fatalf("backfill finished before the broker was stopped; output:\n%s", c.stderr)
	}
	run := func(script string, args ...string) {
		out, err := exec.Command(script, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", script, args, err, out)
		}
		t.Logf("%s %v: %s", script, args, strings.TrimSpace(lastLine(string(out))))
	}
	var once sync.Once
	restart := func() { once.Do(func() { run(up) }) }
	t.Cleanup(restart) // never leave the broker down for the next test
	if kill := os.Getenv("KAFKA_KILL_CMD"); kill != "" {
		run(kill) // a crash of the broker, not a controlled shutdown
	} else {
		run(down)
	}
	stoppedAt := c.published()
	time.Sleep(3 * time.Second) // the broker stays down a while: the bridge must wait, not fail
	restart()
	if code := c.wait(t, 10*time.Minute); code != 0 {
		t.Fatalf("backfill exit %d after the broker restart; output:\n%s", code, c.stderr)
	}
	if !strings.Contains(c.stderr.String(), "retrying") {
		t.Errorf("the bridge did not report the outage in its log; output:\n%s", c.stderr)
	}
	events, dlq := e.readTopics()
	verify.Topic(t, events, dlq, valid, malformed, 6)
	t.Logf("broker killed after %d events; %d events, %d dead letters", stoppedAt, len(events), len(dlq))
}

// TestFencing starts a second bridge with the same transactional id: the
// first stops with a clear error instead of writing, the second carries on,
// and nothing is duplicated.
func TestFencing(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fencing test runs the bridge as child processes")
	}
	cfg := crashSim(2, 3)
	// Real time (the child bridges use the wall clock), a point per second:
	// always new data, so the fenced bridge tries to write.
	cfg.Clock, cfg.ReportInterval = nil, time.Second
	e := newCrashEnv(t, cfg)
	env := []string{"POLL_INTERVAL=100ms", "SWEEP_INTERVAL=1s", "LOOKBACK=10m", "GAP_THRESHOLD=5m"}
	a := e.start(env, "run")
	if !a.waitPublished(t, 1, time.Minute) {
		t.Fatalf("first bridge exited early (%d):\n%s", a.code, a.stderr)
	}
	b := e.start(env, "run")
	if !b.waitPublished(t, 1, time.Minute) {
		t.Fatalf("second bridge exited early (%d):\n%s", b.code, b.stderr)
	}
	code := a.wait(t, time.Minute)
	if code != exitFailure || !strings.Contains(a.stderr.String(), "fenced") {
		t.Fatalf("fenced bridge: exit %d, output:\n%s", code, a.stderr)
	}
	t.Logf("first bridge stopped: %s", strings.TrimSpace(lastLine(a.stderr.String())))
	b.waitPublished(t, b.published()+1, time.Minute) // the survivor still writes
	b.cmd.Process.Signal(syscall.SIGTERM)
	if code := b.wait(t, time.Minute); code != 0 {
		t.Fatalf("second bridge exit %d on SIGTERM:\n%s", code, b.stderr)
	}
	events, _ := e.readTopics()
	seen := map[string]bool{}
	for _, r := range events {
		id := verify.Header(r, "catena-id")
		if seen[id] {
			t.Errorf("event %s published more than once", id)
			continue
		}
		seen[id] = true
	}
	t.Logf("%d events, no duplicates", len(events))
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
