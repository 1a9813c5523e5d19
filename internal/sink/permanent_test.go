package sink

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestPermanent: what the bridge must not retry at start (a refused SASL
// login, a broker certificate it does not trust) is permanent, as franz-go
// wraps it; a refused connection, a broker that is down, is not.
func TestPermanent(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"sasl", fmt.Errorf("list topics: %w", fmt.Errorf("invalid credentials: %w", kerr.SaslAuthenticationFailed)), true},
		{"unknown authority", fmt.Errorf("unable to dial: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), true},
		{"host name", fmt.Errorf("unable to dial: %w", x509.HostnameError{Host: "kafka"}), true},
		{"expired", fmt.Errorf("unable to dial: %w", x509.CertificateInvalidError{Reason: x509.Expired}), true},
		{"connection refused", fmt.Errorf("unable to dial: %w", refused), false},
		{"other", errors.New("broker not available"), false},
	} {
		if got := permanent(c.err); got != c.want {
			t.Errorf("%s: permanent(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}
