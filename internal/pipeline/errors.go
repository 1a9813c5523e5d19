package pipeline

import (
	"errors"

	"github.com/catena-bridge/catena-bridge/internal/catena"
)

// sinkError marks errors from the sink and the committer, which are all
// fatal: the sink already retried what can be retried.
type sinkError struct{ err error }

func (e *sinkError) Error() string { return e.err.Error() }
func (e *sinkError) Unwrap() error { return e.err }

func isSinkErr(err error) bool {
	var se *sinkError
	return errors.As(err, &se)
}

// cursorRefused tells an API error that rejects the cursor of a request
// (400 or 422 to a page requested with a cursor) from other failures.
func cursorRefused(err error, cursor string) bool {
	var ae *catena.APIError
	return cursor != "" && errors.As(err, &ae) && (ae.Status == 400 || ae.Status == 422)
}

// vehicleRefused reports an API error that concerns one vehicle's history
// request (400, 403, 404, 422: the API will answer the same next time), as
// opposed to outages, 429s, auth failures and sink errors.
func vehicleRefused(err error) bool {
	var ae *catena.APIError
	if isSinkErr(err) || !errors.As(err, &ae) || errors.Is(err, catena.ErrUnauthorized) {
		return false
	}
	switch ae.Status {
	case 400, 403, 404, 422:
		return true
	}
	return false
}

// vehicleGone reports an API answer that the vehicle is no longer served
// (403, 404): it has no more history to fetch, which is not a failure.
func vehicleGone(err error) bool {
	var ae *catena.APIError
	return vehicleRefused(err) && errors.As(err, &ae) && (ae.Status == 403 || ae.Status == 404)
}
