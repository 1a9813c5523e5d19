package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"golang.org/x/sync/semaphore"
)

// ErrFenced is wrapped by the errors of a Sink whose transactional id another
// process has taken over. It is final: the Sink stays fenced, and the process
// should stop, since the other one now owns the work.
var ErrFenced = errors.New("sink: fenced: another catena-bridge with the same transactional id took over")

// closeTimeout bounds each step of Close: the wait for a Commit in
// progress, then the abort of an open transaction.
const closeTimeout = 10 * time.Second

// Sink produces batches transactionally and reads the bridge's state back.
// Commit calls are serialized internally; the other methods may be called
// concurrently with each other and with Commit.
type Sink struct {
	cfg  Config
	log  *slog.Logger
	opts []kgo.Opt // shared by every client: brokers, TLS, SASL, logger, ExtraOpts

	cl  *kgo.Client // transactional producer
	adm *kadm.Client

	// life ends on Close, so a Commit blocked in retries returns promptly.
	life     context.Context
	lifeStop context.CancelFunc

	// mu serializes Commit and Close. It is a semaphore, not a
	// sync.Mutex, because Commit holds it across its retry backoff: a
	// Commit waiting behind another returns when its ctx ends, and a
	// waiter is durably blocked for testing/synctest.
	mu      *semaphore.Weighted
	pending *pending // a transaction a failed attempt left behind, nil when none
	// closeWait bounds Close's wait for a Commit in progress (closeTimeout;
	// shorter in tests).
	closeWait time.Duration
	fenced    error // sticky fencing error, wraps ErrFenced

	ready       atomic.Pointer[readyState]
	recordLimit atomic.Int64 // see RecordLimit
}

type readyState struct{ err error }

// pending describes a transaction a failed attempt left behind. It must be
// aborted before a new one begins; when its commit request was sent but its
// outcome not confirmed, probe is a record of it whose visibility tells
// whether it committed.
type pending struct {
	batch *Batch      // the batch of the failed attempt
	probe *kgo.Record // nil: the commit certainly did not happen
}

// New creates the Sink's transactional producer: records keyed by fleet_id
// go to murmur2(key) % partitions like the Java client's default
// partitioner (kgo.StickyKeyPartitioner(nil)), acks=all, idempotent,
// compressed as configured. New does not wait for the brokers; EnsureTopics
// does. It fails only on an invalid Config.
func New(ctx context.Context, cfg Config) (*Sink, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	codec, _ := compressionCodec(cfg.Compression) // validated in withDefaults

	s := &Sink{cfg: cfg, log: cfg.Logger, mu: semaphore.NewWeighted(1), closeWait: closeTimeout}
	s.ready.Store(&readyState{errors.New("sink: no broker interaction has succeeded yet")})

	s.opts = []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.WithLogger(slogAdapter{cfg.Logger}),
	}
	if cfg.TLS != nil {
		s.opts = append(s.opts, kgo.DialTLSConfig(cfg.TLS))
	}
	if cfg.SASL != nil {
		s.opts = append(s.opts, kgo.SASL(cfg.SASL))
	}

	popts := append([]kgo.Opt{}, s.opts...)
	popts = append(popts,
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.ProducerBatchCompression(codec),
		// Without a delivery timeout a produce to a dead broker waits
		// forever and Commit can neither log nor report it. Half the
		// transaction timeout leaves time to abort before the
		// coordinator does.
		kgo.RecordDeliveryTimeout(cfg.TransactionTimeout/2),
		// The readers are separate clients; these only matter if a test
		// passes consumer options through ExtraOpts.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	// A dial failure makes Ready report at once, rather than when the
	// produce times out (TransactionTimeout/2) or the next Commit fails.
	popts = append(popts, kgo.WithHooks(readyHook{s}))
	if cfg.Registerer != nil {
		popts = append(popts, kgo.WithHooks(kprom.NewMetrics(MetricsNamespace, kprom.Registerer(cfg.Registerer))))
	}
	popts = append(popts, cfg.ExtraOpts...)
	s.opts = append(s.opts, cfg.ExtraOpts...)

	cl, err := kgo.NewClient(popts...)
	if err != nil {
		return nil, fmt.Errorf("sink: create kafka client for %v: %w", cfg.Brokers, err)
	}
	s.cl = cl
	s.adm = kadm.NewClient(cl)
	s.life, s.lifeStop = context.WithCancel(context.WithoutCancel(ctx))
	return s, nil
}

// Ready returns nil when the last broker interaction succeeded, or the
// error that made it fail (for /readyz): a failed connection to a broker
// counts at once, a successful Commit, EnsureTopics, LoadCheckpoints,
// ScanEvents or EventPartitions clears it. Before the first success it
// returns an error too.
func (s *Sink) Ready() error { return s.ready.Load().err }

func (s *Sink) setReady(err error) { s.ready.Store(&readyState{err}) }

// Close makes a Commit still retrying return, aborts a transaction a failed
// Commit left open, and closes the client; each step is bounded by 10s. A
// Commit whose records wait for a broker that is down does not see its
// context end (franz-go fails a buffered record only when its client
// closes): after 10s Close closes the client under it. Records of a batch
// that did not commit are not visible to read_committed consumers either
// way: the coordinator aborts what Close could not.
func (s *Sink) Close() {
	s.lifeStop()
	wait, cancel := context.WithTimeout(context.Background(), s.closeWait)
	err := s.mu.Acquire(wait, 1)
	cancel()
	if err != nil {
		s.log.Warn("kafka: a commit in progress did not stop within the close timeout (broker unreachable?); closing the client under it",
			"transactional_id", s.cfg.TransactionalID, "timeout", s.closeWait)
		s.cl.Close() // fails its buffered records: the Commit returns
		_ = s.mu.Acquire(context.Background(), 1)
		s.mu.Release(1)
		return
	}
	defer s.mu.Release(1)
	if s.pending != nil && s.fenced == nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if err := s.abort(ctx); err != nil {
			s.log.Warn("kafka: abort open transaction on close", "transactional_id", s.cfg.TransactionalID, "err", err)
		}
		cancel()
	}
	s.cl.Close()
}

// newBackoff returns the retry policy of every broker interaction: jittered
// exponential from 250ms to 10s, unbounded except by ctx.
func newBackoff(ctx context.Context) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 250 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	b.MaxElapsedTime = 0
	return backoff.WithContext(b, ctx)
}

// newClient creates a short-lived, non-transactional client with the Sink's
// connection options plus opts. Admin calls use one too: a client caches
// metadata for a few seconds, "topic unknown" included, so listing topics on
// the producer client right before creating them would hide them from the
// producer's own listings (EventPartitions, offsets) for that long.
func (s *Sink) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	all := append(append([]kgo.Opt{}, s.opts...), opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("create kafka client for %v: %w", s.cfg.Brokers, err)
	}
	return cl, nil
}

// retry runs op until it succeeds, returns a backoff.Permanent error, or ctx
// ends; every failure is logged at Warn and recorded for Ready. On ctx end
// the error wraps ctx's error and names the last failure.
func (s *Sink) retry(ctx context.Context, what string, op func() error) error {
	var last error
	err := backoff.RetryNotify(func() error {
		err := op()
		if err == nil {
			s.setReady(nil)
			return nil
		}
		last = err
		s.setReady(fmt.Errorf("%s: %w", what, err))
		return err
	}, newBackoff(ctx), func(err error, wait time.Duration) {
		s.log.Warn("kafka: "+what+" failed, retrying", "err", err, "retry_in", wait)
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && last != nil && !errors.Is(err, last) {
		return fmt.Errorf("%s: %w (last error: %v)", what, ctx.Err(), last)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isFenced reports whether err says another producer took the transactional
// id. InvalidProducerEpoch from a produce response is not enough on its own
// (a transaction the coordinator timed out also bumps the epoch); Commit
// retries it, and the retry's re-initialisation answers definitively.
func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed)
}

// isFencedAfterRecover is isFenced, plus InvalidProducerEpoch when it comes
// from the coordinator after franz-go tried to re-initialise the producer id
// (BeginTransaction, EndTransaction): then it is final.
func isFencedAfterRecover(err error) bool {
	return isFenced(err) || errors.Is(err, kerr.InvalidProducerEpoch)
}

// permanent reports whether err cannot pass by retrying. Besides the
// broker's final answers, that is a broker certificate this process does not
// trust (KAFKA_TLS_CA_FILE): unlike a refused connection, retrying it only
// hides a configuration mistake behind "waiting for Kafka".
func permanent(err error) bool {
	if errors.Is(err, kgo.ErrClientClosed) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if IsTLSVerifyError(err) {
		return true
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		switch ke {
		case kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed, kerr.SaslAuthenticationFailed,
			kerr.InvalidReplicationFactor, kerr.InvalidPartitions, kerr.InvalidConfig, kerr.InvalidTopicException,
			kerr.PolicyViolation, kerr.UnsupportedVersion,
			// A record or batch the broker will never take.
			kerr.MessageTooLarge, kerr.RecordListTooLarge, kerr.InvalidRecord, kerr.InvalidTimestamp:
			return true
		}
	}
	return false
}

// IsTLSVerifyError reports whether err is the broker's TLS certificate failing
// verification: signed by an authority not in the trusted roots, for another
// host name, expired or otherwise invalid.
func IsTLSVerifyError(err error) bool {
	var (
		cve  *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
		host x509.HostnameError
		inv  x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &host) || errors.As(err, &inv)
}

// readyHook records failed broker connections for Ready.
type readyHook struct{ s *Sink }

func (h readyHook) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.s.setReady(fmt.Errorf("connect to broker %s:%d: %w", meta.Host, meta.Port, err))
	}
}

// slogAdapter sends franz-go's warnings and errors to slog; its Info level
// is a line per transaction, too chatty for the bridge's log.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Level() kgo.LogLevel { return kgo.LogLevelWarn }

func (a slogAdapter) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	case kgo.LogLevelInfo:
		l = slog.LevelInfo
	}
	a.l.Log(context.Background(), l, "franz-go: "+msg, keyvals...)
}
