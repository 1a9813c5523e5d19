package pipeline_test

import (
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// The tests of this package run the whole bridge, with its tickers, sweeps,
// backoffs and transaction timeouts, inside a testing/synctest bubble: the
// bubble's clock is fake and jumps to the next timer whenever every
// goroutine of the test waits, so a test that waits out ten sweeps takes
// the CPU time of ten sweeps, not their wall time. For that, nothing may
// wait on the real network: kfake, the simulated API, the registry and the
// webhook receivers listen on one in-memory network per test (kfake's
// VirtualNetwork, net.Pipe connections), and every client dials through it.
//
// Against a real broker (KAFKA_BROKERS, make test-kafka) a bubble cannot
// hold: the broker's answers come over real sockets. There the same tests
// run on the wall clock, and the waits below are waits.

// TestMain runs the tests with the collector at GOGC 400 unless GOGC is
// set: the bubbles' bridges allocate briskly, and under -race a collection
// costs several times its usual CPU (the package under -race: about 5%
// faster). The heap stays small; the soak test forces a collection before
// it reads the heap.
func TestMain(m *testing.M) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	os.Exit(m.Run())
}

// realBroker reports whether the tests use the broker in KAFKA_BROKERS.
func realBroker() bool { return os.Getenv("KAFKA_BROKERS") != "" }

// bubble runs f in a synctest bubble, in parallel with the package's other
// bubbles (each has its own network, cluster and clock); against a real
// broker, directly and one test at a time (a crash test restarts the broker
// under the others). f must not call t.Run or t.Parallel (a bubble's test
// cannot).
func bubble(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	if realBroker() {
		f(t)
		return
	}
	t.Parallel()
	synctest.Test(t, f)
}

// network is one test's in-memory network.
type network struct {
	kfake.VirtualNetwork
	port atomic.Int32
}

// serve serves h on the network until the test ends, and returns its base
// URL.
func (n *network) serve(t testing.TB, h http.Handler) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(20000+int(n.port.Add(1)))
	ln, err := n.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + addr
}

// client returns an HTTP client that dials through the network; its idle
// connections are closed when the test ends (a bubble ends only once every
// goroutine it started has).
func (n *network) client(t testing.TB) *http.Client {
	tr := &http.Transport{DialContext: n.DialContext, MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// waitFor returns once cond holds. In a bubble it lets the bridge run until
// every goroutine waits (synctest.Wait), and moves the fake clock on by
// step while cond does not hold yet; against a real broker the step is a
// real wait. It fails the test when cond still does not hold after limit
// of the test's clock.
func waitFor(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if !realBroker() {
			synctest.Wait()
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
		<-time.After(step)
	}
}

// step is how far waitFor moves the clock between looks: below the 20ms
// poll interval of the live tests, so that a look falls between two polls.
const step = 5 * time.Millisecond

// elapse lets d of the test's clock pass (in a bubble, the fake clock jumps
// there once every goroutine waits). It models time in the world outside
// the bridge, such as Catena's backoff or a slow answer; a wait for the
// bridge itself is waitFor's.
func elapse(d time.Duration) { <-time.After(d) }
