package standby

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
)

// groupErrors records the errors of the member's group management, which
// franz-go only retries (with backoff, for ever) and reports to pollers: the
// member never polls. The last one shows in Ready; one that no retry can fix
// ends Run (fatal).
type groupErrors struct{ m *Member }

// OnGroupManageError implements kgo.HookGroupManageError.
func (h groupErrors) OnGroupManageError(err error) {
	m := h.m
	m.mu.Lock()
	m.groupErr = err
	m.mu.Unlock()
	if fatal(err) {
		select {
		case m.fatal <- err:
		default: // Run is already told
		}
	}
}

// fatal reports whether a group error stays however often the member
// retries: missing ACLs, a session timeout the broker refuses, rejected
// credentials, a broker too old for the group protocol.
func fatal(err error) bool {
	for _, e := range []error{
		kerr.GroupAuthorizationFailed, kerr.TopicAuthorizationFailed, kerr.InvalidSessionTimeout,
		kerr.SaslAuthenticationFailed, kerr.UnsupportedVersion, kerr.InconsistentGroupProtocol,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
