package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/catena-bridge/catena-bridge/internal/config"
)

// TestRegistryCredentialsNotLogged: credentials in SCHEMA_REGISTRY_URL are
// sent as basic auth, and none of the errors logged while the registry is
// unreachable, or returned, carries the password.
func TestRegistryCredentialsNotLogged(t *testing.T) {
	const pass = "reg-PASSWORD-canary"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens: the registry is down

	reg, err := newRegistry(config.Kafka{RegistryURL: "http://user:" + pass + "@" + down + "/"})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = newEncoder(ctx, reg, "t-value", log)
	if err == nil {
		t.Fatal("registration against a registry that is down succeeded")
	}
	if !strings.Contains(logs.String(), "schema registry unreachable") {
		t.Fatalf("no retry was logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String()+err.Error(), pass) {
		t.Errorf("the registry password is in the log or the error:\n%s\n%v", logs.String(), err)
	}

	// The credentials still reach the registry, as basic auth.
	var gotUser, gotPass string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUser, gotPass, _ = r.BasicAuth()
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(`{"error_code":401,"message":"Unauthorized"}`))
	}))
	defer srv.Close()
	reg, err = newRegistry(config.Kafka{RegistryURL: strings.Replace(srv.URL, "http://", "http://user:"+pass+"@", 1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = newEncoder(context.Background(), reg, "t-value", log)
	if gotUser != "user" || gotPass != pass {
		t.Errorf("registry saw basic auth %q:%q, want user and the URL's password", gotUser, gotPass)
	}
	if err == nil || strings.Contains(err.Error(), pass) {
		t.Errorf("error of a refused registration = %v: want one, without the password", err)
	}
}

// TestKafkaAuthHint: a refused SASL login and an untrusted broker
// certificate name the settings to check, and never the password.
func TestKafkaAuthHint(t *testing.T) {
	const pass = "kafka-PASSWORD-canary"
	k := config.Kafka{SASLMechanism: "scram-sha-512", SASLUsername: "bridge", SASLPassword: pass, TLSCAFile: "/etc/kafka/ca.pem"}
	sasl := kafkaAuthHint(fmt.Errorf("list topics: %w", kerr.SaslAuthenticationFailed), k)
	tlsErr := kafkaAuthHint(fmt.Errorf("unable to dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), k)
	other := errors.New("broker not available")
	for _, c := range []struct {
		err  error
		want []string
	}{
		{sasl, []string{"SASL authentication to Kafka failed", `user "bridge"`, "SCRAM-SHA-512", "KAFKA_SASL_PASSWORD"}},
		{tlsErr, []string{"TLS certificate failed verification", `KAFKA_TLS_CA_FILE="/etc/kafka/ca.pem"`, "unknown authority"}},
		{kafkaAuthHint(other, k), []string{"broker not available"}},
	} {
		for _, w := range c.want {
			if !strings.Contains(c.err.Error(), w) {
				t.Errorf("%q does not contain %q", c.err, w)
			}
		}
		if strings.Contains(c.err.Error(), pass) {
			t.Errorf("%q contains the password", c.err)
		}
	}
	if !errors.Is(sasl, kerr.SaslAuthenticationFailed) {
		t.Errorf("the hint hides the cause: %v", sasl)
	}
	if got := kafkaAuthHint(other, k); got != other {
		t.Errorf("another error changed: %v", got)
	}
}
