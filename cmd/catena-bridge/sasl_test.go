package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catena-bridge/catena-bridge/internal/verify"
)

// saslSSL is the real broker's SASL_SSL listener (SCRAM-SHA-512 over TLS with
// a CA made at broker start), as scripts/test-kafka.sh exports it from
// scripts/kafka/kafka-up.sh. The variables are named apart from the bridge's
// own KAFKA_SASL_* and KAFKA_TLS_* settings so that the other tests' child
// processes, which inherit the environment, keep to the PLAINTEXT listener.
type saslSSL struct {
	brokers, user, password, caFile string
}

func needSASLSSL(t *testing.T) saslSSL {
	t.Helper()
	s := saslSSL{
		brokers:  os.Getenv("KAFKA_SASL_SSL_BROKERS"),
		user:     os.Getenv("KAFKA_SASL_SSL_USERNAME"),
		password: os.Getenv("KAFKA_SASL_SSL_PASSWORD"),
		caFile:   os.Getenv("KAFKA_SASL_SSL_CA_FILE"),
	}
	if os.Getenv("KAFKA_BROKERS") == "" || s.brokers == "" || s.user == "" || s.password == "" || s.caFile == "" {
		t.Skip("needs the real broker's SASL_SSL listener: KAFKA_BROKERS, KAFKA_SASL_SSL_BROKERS, _USERNAME, _PASSWORD and _CA_FILE (make test-kafka and .ci/run set them)")
	}
	return s
}

// env is the bridge's configuration for the secured listener.
func (s saslSSL) env(password, caFile string) []string {
	return []string{
		"KAFKA_BROKERS=" + s.brokers,
		"KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
		"KAFKA_SASL_USERNAME=" + s.user,
		"KAFKA_SASL_PASSWORD=" + password,
		"KAFKA_TLS=true",
		"KAFKA_TLS_CA_FILE=" + caFile,
	}
}

// TestSASLSSLBackfill runs the end-to-end backfill through the SASL_SSL
// listener: the bridge authenticates with SCRAM-SHA-512 over TLS, trusting
// only the test CA, creates its topics, commits transactionally and reads
// its checkpoints back; a read_committed consumer then finds every record
// exactly once.
func TestSASLSSLBackfill(t *testing.T) {
	s := needSASLSSL(t)
	e := newCrashEnv(t, crashSim(4, 5))
	from, to := crashT0.Add(-120*time.Minute), crashT0
	valid, malformed := verify.Truth(e.sim, from, to, crashT0)
	args := []string{"backfill", "--from", from.Format(time.RFC3339), "--to", to.Format(time.RFC3339)}
	start := time.Now()
	c := e.start(s.env(s.password, s.caFile), args...)
	if code := c.wait(t, 5*time.Minute); code != 0 {
		t.Fatalf("backfill over SASL_SSL (%s): exit %d; output:\n%s", s.brokers, code, c.stderr)
	}
	t.Logf("backfill over SASL_SSL %s in %.1fs: %s", s.brokers, time.Since(start).Seconds(), strings.TrimSpace(lastLine(c.stderr.String())))
	noSecret(t, c.stderr.String(), s.password)
	events, dlq := e.readTopics() // through the PLAINTEXT listener: the same cluster
	verify.Topic(t, events, dlq, valid, malformed, 6)
	t.Logf("%d events, %d dead letters, exactly once", len(events), len(dlq))

	// Run again: the job is complete, so it publishes nothing (the
	// checkpoints were read back through the secured listener).
	c = e.start(s.env(s.password, s.caFile), args...)
	if code := c.wait(t, 5*time.Minute); code != 0 || !strings.Contains(c.stderr.String(), "(already complete)") {
		t.Fatalf("second backfill over SASL_SSL: exit %d, not already complete; output:\n%s", code, c.stderr)
	}
}

// TestSASLWrongPassword: a wrong password fails at once (no retrying an
// answer that will not change) with exit 1 and a message that says SASL
// authentication failed, and prints neither password.
func TestSASLWrongPassword(t *testing.T) {
	s := needSASLSSL(t)
	e := newCrashEnv(t, crashSim(1, 1))
	wrong := "wrong-" + s.password[:4] + "-not-the-password"
	start := time.Now()
	c := e.start(s.env(wrong, s.caFile), "backfill", "--from", crashT0.Add(-time.Hour).Format(time.RFC3339), "--to", crashT0.Format(time.RFC3339))
	code := c.wait(t, time.Minute)
	took := time.Since(start)
	out := c.stderr.String()
	t.Logf("exit %d after %.1fs: %s", code, took.Seconds(), strings.TrimSpace(lastLine(out)))
	if code != exitFailure {
		t.Fatalf("exit %d, want %d; output:\n%s", code, exitFailure, out)
	}
	last := strings.ToLower(lastLine(out))
	if !strings.Contains(last, "sasl") || !strings.Contains(last, "authentication") {
		t.Errorf("the error does not name the SASL authentication failure:\n%s", out)
	}
	noSecret(t, out, wrong, s.password)
	if took > 30*time.Second {
		t.Errorf("took %v to fail: an authentication failure must not be retried", took)
	}
}

// TestSASLUntrustedCA: a CA that did not sign the broker's certificate fails
// at once with exit 1 and a message that names the certificate problem, and
// prints no password.
func TestSASLUntrustedCA(t *testing.T) {
	s := needSASLSSL(t)
	e := newCrashEnv(t, crashSim(1, 1))
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(otherCA, newCAPEM(t), 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c := e.start(s.env(s.password, otherCA), "backfill", "--from", crashT0.Add(-time.Hour).Format(time.RFC3339), "--to", crashT0.Format(time.RFC3339))
	code := c.wait(t, time.Minute)
	took := time.Since(start)
	out := c.stderr.String()
	t.Logf("exit %d after %.1fs: %s", code, took.Seconds(), strings.TrimSpace(lastLine(out)))
	if code != exitFailure {
		t.Fatalf("exit %d, want %d; output:\n%s", code, exitFailure, out)
	}
	if last := lastLine(out); !strings.Contains(last, "TLS certificate failed verification") || !strings.Contains(last, "unknown authority") {
		t.Errorf("the error does not name the untrusted certificate:\n%s", out)
	}
	noSecret(t, out, s.password)
	if took > 30*time.Second {
		t.Errorf("took %v to fail: an untrusted certificate must not be retried", took)
	}
}

func noSecret(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the output contains a password (%d characters); output:\n%s", len(s), strings.ReplaceAll(out, s, "<password>"))
		}
	}
}

// newCAPEM returns a fresh self-signed CA certificate, PEM-encoded: one that
// did not sign the broker's.
func newCAPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "catena-bridge test: some other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
