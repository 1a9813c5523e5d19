package record

import (
	"strconv"
	"unicode/utf8"
)

// Reasons are the short, stable codes carried by Invalid.Reason. They are
// meant for metric labels and dead-letter headers, so they never change
// meaning; new ones may be added.
const (
	ReasonDecode           = "decode"            // not a JSON object, or malformed JSON
	ReasonMissingID        = "missing_id"        // id null, absent or ""
	ReasonBadID            = "bad_id"            // id not a canonical UUID (or not a string)
	ReasonMissingFleetID   = "missing_fleet_id"  // fleet_id null, absent or ""
	ReasonBadFleetID       = "bad_fleet_id"      // fleet_id not a canonical UUID (or not a string)
	ReasonBadCoordinates   = "bad_coordinates"   // location not a GeoJSON Point, coordinates not 2..3 numbers, or out of range
	ReasonInvalidH3        = "invalid_h3"        // h3_index_11 not an integer, or not a resolution-11 cell
	ReasonBadTimestamp     = "bad_timestamp"     // a date-time field that is not RFC 3339
	ReasonMissingTimestamp = "missing_timestamp" // created_at or updated_at null or absent
	ReasonMissingField     = "missing_field"     // another required field (connection_id, source_name, source_id, source_data_hash) null, absent or ""
	ReasonBadUUID          = "bad_uuid"          // another uuid field (connection_id, tsp_id, vehicle_id, ...) not a canonical UUID
	ReasonBadNumber        = "bad_number"        // a number field that is neither a number nor a numeric string
	ReasonBadType          = "bad_type"          // any other field with the wrong JSON type
	ReasonFutureTime       = "future_time"       // occurred_at further ahead of the bridge's clock than the tolerance (CheckFuture)
	ReasonTooLarge         = "too_large"         // the event is larger than the topic takes (max.message.bytes)
)

// Invalid is the error returned by Decode and Validate: the record cannot be
// published as is. It names the offending field and its value, so the record
// can go to the dead-letter topic with a precise reason.
type Invalid struct {
	// Field is the JSON name of the offending field ("location.coordinates",
	// "h3_index_11", ...), or "record" when the record as a whole is not a
	// JSON object.
	Field string
	// Value is the offending value as JSON text (strings quoted, "null" for
	// null or absent), truncated to 64 bytes.
	Value string
	// Reason is one of the Reason* codes.
	Reason string
	// Msg is a human explanation; when empty, Error uses a default per
	// Reason.
	Msg string
}

// Error returns "field = value: message", e.g.
// `h3_index_11 = 12345: not a valid resolution-11 H3 cell`.
func (e *Invalid) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = defaultMsg(e.Reason)
	}
	return e.Field + " = " + e.Value + ": " + msg
}

func defaultMsg(reason string) string {
	switch reason {
	case ReasonMissingID, ReasonMissingFleetID, ReasonMissingTimestamp:
		return "required"
	case ReasonBadID, ReasonBadFleetID:
		return "not a UUID"
	case ReasonBadCoordinates:
		return "not a GeoJSON Point with 2 or 3 numeric coordinates"
	case ReasonInvalidH3:
		return "not a valid resolution-11 H3 cell"
	case ReasonBadTimestamp:
		return "not an RFC 3339 date-time"
	case ReasonBadNumber:
		return "not a number"
	case ReasonBadType:
		return "wrong JSON type"
	default:
		return "invalid JSON"
	}
}

// maxValueLen bounds Invalid.Value: a whole source_data payload has no place
// in an error message or a Kafka header.
const maxValueLen = 64

func truncValue(b []byte) string {
	if len(b) <= maxValueLen {
		return string(b)
	}
	n := maxValueLen
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n]) + "…"
}

func quoteValue(s string) string {
	if s == "" {
		return "null"
	}
	if len(s) > maxValueLen {
		return truncValue([]byte(strconv.Quote(s)))
	}
	return strconv.Quote(s)
}
