// Package schemas holds the Avro schemas catena-bridge publishes, embedded
// into the binary. The .avsc files are the source of truth; they live here
// because //go:embed cannot reach files outside the package directory.
package schemas

import _ "embed"

// VehicleLocation is the text of vehicle_location.avsc: the Avro record
// catena.telematics.v1.VehicleLocation, the value schema of the events topic
// (registered under the subject "<topic>-value"). Edits must stay BACKWARD
// compatible (add only optional fields with default null); the tests of
// internal/avro check this against the first published version.
//
//go:embed vehicle_location.avsc
var VehicleLocation string
