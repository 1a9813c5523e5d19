package standby

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReviewGroupRefusalEndsRun: a broker whose group.min.session.timeout.ms
// is above the member's session timeout refuses every JoinGroup with
// INVALID_SESSION_TIMEOUT (GROUP_AUTHORIZATION_FAILED, a missing Group ACL,
// is the same). No retry passes it, like the sink's authorization failures,
// which end start-up at once. The member must return an error (or at least
// name the cause in Ready); before the groupErrors hook it waited for ever,
// "joining".
func TestReviewGroupRefusalEndsRun(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic),
		kfake.GroupMinSessionTimeout(10*time.Second)) // like a broker with group.min.session.timeout.ms=10000
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m, err := New(Config{
		Opts:  []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)},
		Group: GroupID("test-" + t.Name()), Topic: topic,
		// the production defaults: 6 s session, 1 s heartbeat
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{}, 1)
	done := run(ctx, m, func(ctx context.Context) error { started <- struct{}{}; <-ctx.Done(); return nil })
	select {
	case err := <-done:
		t.Logf("Run returned: %v", err)
		return
	case <-started:
		t.Fatal("a term started although the broker refused the group")
	case <-time.After(8 * time.Second):
	}
	t.Errorf("8 s after start Run still waits and the replica never becomes active; Ready says only %q (the broker's INVALID_SESSION_TIMEOUT is nowhere)", m.Ready())
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestReviewGroupAuthorizationHangs: the same with GROUP_AUTHORIZATION_FAILED
// (the principal lacks READ on group catena-bridge-standby.<txn id>, which
// the README does not mention): every JoinGroup is refused, Run never
// returns and no replica ever publishes.
func TestReviewGroupAuthorizationHangs(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.ControlKey(int16(kmsg.JoinGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		resp := req.(*kmsg.JoinGroupRequest).ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
		return resp, nil, true
	})
	m := newMember(t, []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := run(ctx, m, func(ctx context.Context) error { <-ctx.Done(); return nil })
	select {
	case err := <-done:
		t.Logf("Run returned: %v", err)
		return
	case <-time.After(5 * time.Second):
	}
	t.Errorf("5 s of GROUP_AUTHORIZATION_FAILED: Run still waits; Ready: %v", m.Ready())
	cancel()
	<-done
}

// TestReviewLostStillReady: a's group client is cut off (its heartbeats fail),
// the coordinator expires it and b takes over; a's term, told to stop by
// OnPartitionsLost, takes a while to end (its last commit, up to
// SHUTDOWN_GRACE, then the producer's close). All that time a still says
// Ready() nil and Active() true (/readyz 200, catena_bridge_active 1, may
// recover the webhook subscription) beside b, which is active too.
func TestReviewLostStillReady(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, topic), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	a, b := newMember(t, opts), newMember(t, opts)
	aID := make(chan string, 1)
	var cut atomic.Bool
	var cutID atomic.Value
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		hb := req.(*kmsg.HeartbeatRequest)
		select {
		case aID <- hb.MemberID:
		default:
		}
		if cut.Load() && hb.MemberID == cutID.Load() {
			return nil, errors.New("cut off"), true // closes the connection
		}
		return nil, nil, false
	})
	ev := make(events, 10)
	aStopping := make(chan struct{})
	actx, stopA := context.WithCancel(context.Background())
	defer stopA()
	aDone := run(actx, a, func(ctx context.Context) error {
		ev <- "a active"
		<-ctx.Done()
		close(aStopping)
		time.Sleep(4 * time.Second) // the last commit, within SHUTDOWN_GRACE
		ev <- "a stopped"
		return nil
	})
	ev.want(t, "a active")
	id := <-aID
	for len(aID) > 0 {
		<-aID
	}
	bctx, stopB := context.WithCancel(context.Background())
	defer stopB()
	bDone := run(bctx, b, ev.term("b"))
	wait(t, b.Joined(), "b joins")
	cutID.Store(id)
	cut.Store(true)
	t.Logf("a's heartbeats (member %s) now fail", id)
	wait(t, aStopping, "a's term told to stop (lost)")
	ev.want(t, "b active")
	both := 0
	for i := 0; i < 10; i++ {
		if a.Ready() == nil && a.Active() && b.Ready() == nil && b.Active() {
			both++
		}
		time.Sleep(100 * time.Millisecond)
	}
	if both > 0 {
		t.Errorf("after a lost the partition and b took it, a and b were both Ready and Active in %d of 10 probes over 1 s", both)
	}
	ev.want(t, "a stopped")
	stopA()
	stopB()
	<-aDone
	<-bDone
}

// TestReviewStepDownLeak: repeated fenced terms (each a leave, a new client
// and a new join) leave no goroutines behind.
func TestReviewStepDownLeak(t *testing.T) {
	opts := cluster(t)
	m := newMember(t, opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	terms := make(chan int, 16)
	var n atomic.Int64
	done := run(ctx, m, func(ctx context.Context) error {
		k := n.Add(1)
		terms <- int(k)
		if k <= 8 {
			return fmt.Errorf("commit: %w", errFenced)
		}
		<-ctx.Done()
		return nil
	})
	var base int
	for want := 1; want <= 9; want++ {
		select {
		case <-terms:
		case <-time.After(20 * time.Second):
			t.Fatalf("no term %d", want)
		}
		if want == 2 {
			time.Sleep(300 * time.Millisecond)
			base = runtime.NumGoroutine()
		}
	}
	time.Sleep(300 * time.Millisecond)
	t.Logf("goroutines after term 2: %d, after term 9: %d", base, runtime.NumGoroutine())
	if g := runtime.NumGoroutine(); g > base+5 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d over 7 step-downs:\n%s", base, g, buf[:runtime.Stack(buf, true)])
	}
	cancel()
	<-done
}
