// Package webhook receives Catena's vehicle_location.added deliveries: it
// checks each one before anything else, bounds what it reads, and hands the
// records of a genuine delivery to the caller, answering Catena only once
// the caller has committed them.
//
// # What a delivery must pass
//
// In this order, each failure answered at once and counted by outcome:
//   - method POST, Content-Encoding gzip (415 otherwise: Catena sends every
//     delivery gzip-compressed);
//   - X-Catena-Timestamp an RFC 3339 time no older than MaxAge (5m) and no
//     further ahead than MaxAhead (1m) of the receiver's clock (401);
//   - at most MaxCompressedBytes (4 MiB) on the wire and MaxBodyBytes
//     (16 MiB) once decompressed, read as a stream and abandoned at the
//     limit, so a gzip bomb costs no more than the limit (413);
//   - X-Catena-Signature, the standard Base64 of HMAC-SHA256 keyed with the
//     subscription secret over the timestamp header, ".", and the
//     decompressed body, compared in constant time (401);
//   - a JSON envelope whose data is an array of records (400); unknown
//     fields are ignored.
//
// # Delivery guarantee
//
// A delivery is answered 202 only after Config.Accept returned nil, which
// the caller does once the records are in a committed Kafka transaction.
// When Accept fails or does not return within AckTimeout (2.5s, inside
// Catena's 3s), the answer is 503, and Catena retries the delivery. Catena
// delivers at least once and in any order: the caller deduplicates.
package webhook
