// Command wait blocks until a Kafka broker is ready for transactional work, and
// with -roundtrip also proves it end to end.
//
// Ready means two things, checked in order and retried until -timeout:
//
//   - a metadata request lists at least one broker, and
//   - an InitProducerID request for a transactional id succeeds, so the
//     transaction coordinator has loaded __transaction_state. A broker that
//     answers metadata but not this makes every transactional producer's first
//     call hang, which is the failure mode this exists to rule out.
//
// With -roundtrip it then creates a throwaway topic, commits two transactions
// and aborts one between them, consumes read_committed from the start to the
// end offsets, and fails unless exactly the committed records come back, in
// order per partition. The topic is deleted afterwards.
//
// With -cluster-id the broker must also report that cluster id, so a different
// broker listening on the same port is never taken for ours.
//
// With -sasl-ssl-brokers it then creates the SCRAM-SHA-512 user -scram-user
// with the password in -scram-password-file (through -brokers; an existing
// one is reset) and waits until a metadata request as that user over TLS,
// trusting -ca-file, succeeds on the -sasl-ssl-brokers listener.
//
// kafka-up.sh runs it after starting the broker. Exit status: 0 ready, 1 not
// ready by the deadline or the roundtrip failed, 2 bad flags.
//
//	go run ./scripts/kafka/wait -brokers 127.0.0.1:29092 -timeout 120s -roundtrip
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func main() {
	brokers := flag.String("brokers", envOr("KAFKA_BROKERS", "127.0.0.1:29092"), "comma-separated seed brokers (default $KAFKA_BROKERS or 127.0.0.1:29092)")
	timeout := flag.Duration("timeout", 120*time.Second, "give up after this long")
	txnID := flag.String("txn-id", "kafka-wait-probe", "transactional id used for the InitProducerID probe")
	roundtrip := flag.Bool("roundtrip", false, "after readiness, produce transactionally and consume read_committed")
	clusterID := flag.String("cluster-id", "", "if set, the broker must report this cluster id (guards against another broker on the port)")
	quiet := flag.Bool("q", false, "print nothing on success")
	var sec saslSSL
	secBrokers := flag.String("sasl-ssl-brokers", "", "if set, a SASL_SSL (SCRAM-SHA-512) listener to create -scram-user for and check")
	flag.StringVar(&sec.user, "scram-user", "", "SCRAM-SHA-512 user to create (with -sasl-ssl-brokers)")
	flag.StringVar(&sec.passwordFile, "scram-password-file", "", "file holding -scram-user's password")
	flag.StringVar(&sec.caFile, "ca-file", "", "PEM CA that signed the SASL_SSL listener's certificate")
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	seeds := strings.Split(*brokers, ",")
	start := time.Now()
	if err := waitReady(ctx, seeds, *txnID, *clusterID); err != nil {
		fmt.Fprintf(os.Stderr, "wait: broker %s not ready after %s: %v\n", *brokers, time.Since(start).Round(time.Millisecond), err)
		os.Exit(1)
	}
	if !*quiet {
		fmt.Fprintf(os.Stderr, "wait: %s serves metadata and InitProducerID after %s\n", *brokers, time.Since(start).Round(time.Millisecond))
	}
	if *secBrokers != "" {
		sec.brokers = strings.Split(*secBrokers, ",")
		if err := sec.ensure(ctx, seeds); err != nil {
			fmt.Fprintf(os.Stderr, "wait: SASL_SSL listener %s not ready after %s: %v\n", *secBrokers, time.Since(start).Round(time.Millisecond), err)
			os.Exit(1)
		}
		if !*quiet {
			fmt.Fprintf(os.Stderr, "wait: %s authenticates %q (SCRAM-SHA-512 over TLS) after %s\n", *secBrokers, sec.user, time.Since(start).Round(time.Millisecond))
		}
	}
	if *roundtrip {
		n, err := roundTrip(ctx, seeds)
		if err != nil {
			fmt.Fprintf(os.Stderr, "wait: transactional roundtrip against %s: %v\n", *brokers, err)
			os.Exit(1)
		}
		if !*quiet {
			fmt.Fprintf(os.Stderr, "wait: transactional roundtrip ok: %d committed records read back read_committed, aborted ones hidden\n", n)
		}
	}
}

// waitReady retries the metadata and InitProducerID probes until both succeed
// or ctx ends; the returned error is the last probe failure.
func waitReady(ctx context.Context, seeds []string, txnID, clusterID string) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(seeds...),
		// Short per-attempt limits: the loop below does the retrying, so one
		// attempt must not eat the whole deadline on a half-started broker.
		kgo.DialTimeout(2*time.Second),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(5*time.Second),
	)
	if err != nil {
		return fmt.Errorf("new client: %w", err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)

	var last error
	for {
		err := probe(ctx, cl, adm, txnID, clusterID)
		if err == nil {
			return nil
		}
		// Say what is being waited on each time it changes, so a slow start
		// can be told from a hung one in the log.
		if last == nil || err.Error() != last.Error() {
			fmt.Fprintf(os.Stderr, "wait: not ready yet: %v\n", err)
		}
		last = err
		select {
		case <-ctx.Done():
			return last
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func probe(ctx context.Context, cl *kgo.Client, adm *kadm.Client, txnID, clusterID string) error {
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	md, err := adm.BrokerMetadata(pctx)
	if err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	if len(md.Brokers) == 0 {
		return errors.New("metadata: no brokers listed")
	}
	if clusterID != "" && md.Cluster != clusterID {
		return fmt.Errorf("metadata: cluster id %q, want %q (another broker on this port?)", md.Cluster, clusterID)
	}
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr(txnID)
	req.TransactionTimeoutMillis = 10_000
	req.ProducerID = -1
	req.ProducerEpoch = -1
	resp, err := req.RequestWith(pctx, cl)
	if err != nil {
		return fmt.Errorf("init producer id %q: %w", txnID, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("init producer id %q: %w", txnID, err)
	}
	return nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
