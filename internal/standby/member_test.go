package standby

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

const topic = "t.checkpoints"

// cluster is a kfake broker that accepts short sessions and heartbeats,
// so a test waits milliseconds for the group, not seconds.
func cluster(t *testing.T) []kgo.Opt {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
}

var errFenced = errors.New("fenced")

func newMember(t *testing.T, opts []kgo.Opt) *Member {
	t.Helper()
	m, err := New(Config{
		Opts: opts, Group: GroupID("test-" + t.Name()), Topic: topic,
		SessionTimeout: 3 * time.Second, HeartbeatInterval: 100 * time.Millisecond,
		StepDown: func(err error) bool { return errors.Is(err, errFenced) },
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// events records what the members' terms do, in order.
type events chan string

// term is an active function that reports its start and end and otherwise
// waits for its context.
func (ev events) term(name string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ev <- name + " active"
		<-ctx.Done()
		ev <- name + " stopped"
		return nil
	}
}

func (ev events) want(t *testing.T, want string) time.Duration {
	t.Helper()
	start := time.Now()
	select {
	case got := <-ev:
		if got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no %q within 10s", want)
	}
	return time.Since(start)
}

func run(ctx context.Context, m *Member, active func(ctx context.Context) error) <-chan error {
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, active) }()
	return done
}

func wait(t *testing.T, c <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: not within 10s", what)
	}
}

// TestHandover: of two members one is active and the other stands by (a
// joining member does not disturb the active one); a graceful stop of the
// active one ends its term before the other's begins, and the other takes
// over at once, not after a session timeout.
func TestHandover(t *testing.T) {
	opts := cluster(t)
	ev := make(events, 10)
	a, b := newMember(t, opts), newMember(t, opts)
	actx, stopA := context.WithCancel(context.Background())
	defer stopA()
	aDone := run(actx, a, ev.term("a"))
	ev.want(t, "a active")
	if err := a.Ready(); err != nil || !a.Active() {
		t.Fatalf("active member: Ready %v, Active %v", err, a.Active())
	}

	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	if err := b.Ready(); err == nil {
		t.Fatal("a member that has not joined is ready")
	}
	bDone := run(bctx, b, ev.term("b"))
	wait(t, b.Joined(), "b joins")
	if err := b.Ready(); !errors.Is(err, ErrStandby) || b.Active() {
		t.Fatalf("standby member: Ready %v, Active %v", err, b.Active())
	}
	select {
	case e := <-ev:
		t.Fatalf("a member joining disturbed the active one: %q", e)
	default:
	}

	stopA()
	ev.want(t, "a stopped")
	took := ev.want(t, "b active")
	if err := <-aDone; err != nil {
		t.Fatalf("a: Run after a graceful stop: %v", err)
	}
	t.Logf("handover after a graceful stop: %v", took)
	if took > 1500*time.Millisecond { // well under the 3s session timeout: the leave gave it over
		t.Errorf("handover took %v: not at once", took)
	}
	stopB()
	ev.want(t, "b stopped")
	if err := <-bDone; err != nil {
		t.Fatalf("b: %v", err)
	}
}

// TestFencedStepsDown: a term that ends fenced does not end Run; the member
// gives the assignment back and joins again, and is assigned again when no
// other member is there.
func TestFencedStepsDown(t *testing.T) {
	opts := cluster(t)
	m := newMember(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terms := make(chan int, 4)
	n := 0
	done := run(ctx, m, func(ctx context.Context) error {
		n++
		terms <- n
		if n == 1 {
			return fmt.Errorf("commit: %w", errFenced)
		}
		<-ctx.Done()
		return nil
	})
	for want := 1; want <= 2; want++ {
		select {
		case got := <-terms:
			if got != want {
				t.Fatalf("term %d, want %d", got, want)
			}
		case err := <-done:
			t.Fatalf("Run returned %v after the fenced term", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("no term %d within 10s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestTermFails: a term that fails other than by fencing ends Run with its
// error, and the member leaves, so a standby takes over.
func TestTermFails(t *testing.T) {
	opts := cluster(t)
	a, b := newMember(t, opts), newMember(t, opts)
	boom := errors.New("boom")
	started := make(chan struct{})
	release := make(chan struct{})
	aDone := run(context.Background(), a, func(context.Context) error {
		close(started)
		<-release
		return boom
	})
	wait(t, started, "a active")
	ev := make(events, 4)
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	bDone := run(bctx, b, ev.term("b"))
	wait(t, b.Joined(), "b joins")
	close(release)
	select {
	case err := <-aDone:
		if !errors.Is(err, boom) {
			t.Fatalf("Run: %v, want %v", err, boom)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return the term's error")
	}
	ev.want(t, "b active")
	stopB()
	ev.want(t, "b stopped")
	<-bDone
}

// fetchCounter counts the record batches a client fetched, and signals
// beats once it has sent three heartbeats.
type fetchCounter struct {
	n          atomic.Int64
	heartbeats atomic.Int64
	beats      chan struct{}
}

func (f *fetchCounter) OnFetchBatchRead(kgo.BrokerMetadata, string, int32, kgo.FetchBatchMetrics) {
	f.n.Add(1)
}

func (f *fetchCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if key == 12 && err == nil && f.heartbeats.Add(1) == 3 { // 12: Heartbeat
		close(f.beats)
	}
}

// TestNoFetch: the member reads none of the checkpoint topic's records,
// before or after its assignment.
func TestNoFetch(t *testing.T) {
	opts := cluster(t)
	p, err := kgo.NewClient(append(opts, kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if err := p.ProduceSync(context.Background(), kgo.StringRecord(fmt.Sprint("checkpoint ", i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	fc := fetchCounter{beats: make(chan struct{})}
	m := newMember(t, append(opts, kgo.WithHooks(&fc)))
	ctx, cancel := context.WithCancel(context.Background())
	ev := make(events, 2)
	done := run(ctx, m, func(ctx context.Context) error {
		ev <- "active"
		<-ctx.Done()
		return nil
	})
	ev.want(t, "active")
	// Three heartbeats into the assignment, a fetch would have come back.
	wait(t, fc.beats, "three heartbeats")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := fc.n.Load(); n != 0 {
		t.Errorf("the member fetched %d batches of the checkpoint topic", n)
	}
}
