package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/catena-bridge/catena-bridge/internal/avro"
	"github.com/catena-bridge/catena-bridge/internal/catena"
	"github.com/catena-bridge/catena-bridge/internal/config"
	"github.com/catena-bridge/catena-bridge/internal/sink"
	"github.com/catena-bridge/catena-bridge/schemas"
)

func newLogger(w io.Writer, a config.Admin) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(a.LogLevel)) // validated
	opts := &slog.HandlerOptions{Level: level}
	if a.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func newCatenaClient(c config.Catena, log *slog.Logger, obs catena.Observer) (*catena.Client, error) {
	secret, err := c.Secret()
	if err != nil {
		return nil, err
	}
	return catena.New(catena.Config{
		APIURL:          c.APIURL,
		TokenURL:        c.TokenURL,
		ClientID:        c.ClientID,
		ClientSecret:    secret,
		RateLimit:       c.RateLimit,
		RequestTimeout:  c.RequestTimeout,
		RetryMaxElapsed: c.RetryMaxElapsed,
		Logger:          log,
		Observer:        obs,
	})
}

// sinkConfig is the sink's configuration for work (see config.Kafka.TxnID;
// "" for a reader, which has no transactional id).
func sinkConfig(k config.Kafka, work string, log *slog.Logger, reg prometheus.Registerer) (sink.Config, error) {
	cfg := sink.Config{
		Brokers:           k.Brokers,
		Topic:             k.Topic,
		Partitions:        int32(k.Partitions),
		ReplicationFactor: int16(k.ReplicationFactor),
		TransactionalID:   k.TxnID(work),
		Compression:       k.Compression,
		Logger:            log,
		Registerer:        reg,
	}
	if k.TLS || k.TLSCAFile != "" || k.TLSCertFile != "" {
		t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: k.TLSInsecureSkipVerify}
		if k.TLSCAFile != "" {
			pem, err := os.ReadFile(k.TLSCAFile)
			if err != nil {
				return cfg, fmt.Errorf("KAFKA_TLS_CA_FILE=%q: %v", k.TLSCAFile, err)
			}
			t.RootCAs = x509.NewCertPool()
			if !t.RootCAs.AppendCertsFromPEM(pem) {
				return cfg, fmt.Errorf("KAFKA_TLS_CA_FILE=%q: no PEM certificate in it", k.TLSCAFile)
			}
		}
		if k.TLSCertFile != "" {
			cert, err := tls.LoadX509KeyPair(k.TLSCertFile, k.TLSKeyFile)
			if err != nil {
				return cfg, fmt.Errorf("KAFKA_TLS_CERT_FILE=%q / KAFKA_TLS_KEY_FILE=%q: %v", k.TLSCertFile, k.TLSKeyFile, err)
			}
			t.Certificates = []tls.Certificate{cert}
		}
		cfg.TLS = t
	}
	var m sasl.Mechanism
	switch strings.ToUpper(k.SASLMechanism) {
	case "PLAIN":
		m = plain.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsMechanism()
	case "SCRAM-SHA-256":
		m = scram.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		m = scram.Auth{User: k.SASLUsername, Pass: k.SASLPassword}.AsSha512Mechanism()
	}
	cfg.SASL = m
	return cfg, nil
}

// newRegistry returns the Schema Registry client, or nil without a URL.
// Credentials in the URL (https://user:pass@host) are moved to basic auth:
// the client's errors embed the URL it was given, and they are logged.
func newRegistry(k config.Kafka) (*sr.Client, error) {
	if k.RegistryURL == "" {
		return nil, nil
	}
	u, err := url.Parse(k.RegistryURL)
	if err != nil {
		return nil, fmt.Errorf("SCHEMA_REGISTRY_URL: not a URL (%v)", err.(*url.Error).Err)
	}
	user, pass := k.RegistryUsername, k.RegistryPassword
	if u.User != nil {
		if user == "" {
			user = u.User.Username()
			pass, _ = u.User.Password()
		}
		u.User = nil
	}
	opts := []sr.ClientOpt{sr.URLs(u.String()), sr.UserAgent("catena-bridge")}
	if user != "" {
		opts = append(opts, sr.BasicAuth(user, pass))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("SCHEMA_REGISTRY_URL=%q: %w", u.String(), err)
	}
	return cl, nil
}

// newEncoder registers the event schema (retrying while the registry is
// unreachable; a rejection is final) and returns the encoder: Confluent
// framing with a registry, single-object encoding without.
func newEncoder(ctx context.Context, reg *sr.Client, subject string, log *slog.Logger) (*avro.Encoder, error) {
	codec, err := avro.NewCodec(schemas.VehicleLocation)
	if err != nil {
		return nil, err
	}
	if reg == nil {
		log.Info("no SCHEMA_REGISTRY_URL: events use Avro single-object encoding", "fingerprint", fmt.Sprintf("%x", codec.Fingerprint()))
		return avro.NewEncoder(codec, avro.SingleObjectFraming(codec)), nil
	}
	var id int
	bo := backoff.NewExponentialBackOff(backoff.WithMaxElapsedTime(0), backoff.WithMaxInterval(30*time.Second))
	err = backoff.RetryNotify(func() error {
		var err error
		id, err = avro.Register(ctx, reg, subject, codec)
		var re *sr.ResponseError
		if err != nil && errors.As(err, &re) {
			return backoff.Permanent(err) // the registry answered: retrying will not change its mind
		}
		return err
	}, backoff.WithContext(bo, ctx), func(err error, d time.Duration) {
		log.Warn("schema registry unreachable; retrying", "err", err, "in", d.Round(time.Millisecond))
	})
	if err != nil {
		return nil, err
	}
	log.Info("schema registered", "subject", subject, "id", id)
	return avro.NewEncoder(codec, avro.ConfluentFraming(id)), nil
}
