package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// saslSSL is the secured listener kafka-up.sh configures: SCRAM-SHA-512
// over TLS with a certificate from a CA of its own.
type saslSSL struct {
	brokers      []string
	user         string
	passwordFile string
	caFile       string
}

// ensure creates (or resets) the SCRAM-SHA-512 user through the PLAINTEXT
// seeds, then retries a metadata request as that user over the secured
// listener until it succeeds or ctx ends: the credential reaches the
// listener through the metadata log a moment after it is written.
func (s saslSSL) ensure(ctx context.Context, plainSeeds []string) error {
	pw, err := os.ReadFile(s.passwordFile)
	if err != nil {
		return err
	}
	password := strings.TrimSpace(string(pw))
	if password == "" {
		return fmt.Errorf("%s is empty", s.passwordFile)
	}
	pem, err := os.ReadFile(s.caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no PEM certificate in it", s.caFile)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(plainSeeds...))
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := kadm.NewClient(cl).AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{
		User: s.user, Mechanism: kadm.ScramSha512, Iterations: 4096, Password: password,
	}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		return fmt.Errorf("create SCRAM-SHA-512 user %q: %w", s.user, err)
	}

	sec, err := kgo.NewClient(
		kgo.SeedBrokers(s.brokers...),
		kgo.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: s.user, Pass: password}.AsSha512Mechanism()),
		kgo.DialTimeout(2*time.Second),
		kgo.RequestRetries(0),
		kgo.RetryTimeout(5*time.Second),
	)
	if err != nil {
		return err
	}
	defer sec.Close()
	adm := kadm.NewClient(sec)
	var last error
	for {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		md, err := adm.BrokerMetadata(pctx)
		cancel()
		if err == nil && len(md.Brokers) == 0 {
			err = errors.New("no brokers listed")
		}
		if err == nil {
			return nil
		}
		if last == nil || err.Error() != last.Error() {
			fmt.Fprintf(os.Stderr, "wait: SASL_SSL listener %s not ready yet: %v\n", strings.Join(s.brokers, ","), err)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("SASL_SSL metadata as %q: %w", s.user, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
