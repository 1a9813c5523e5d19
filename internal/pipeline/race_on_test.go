//go:build race

package pipeline_test

// raceEnabled is whether the tests run under the race detector, which
// multiplies their CPU time about tenfold: the soak test then runs a
// shorter span, long enough for its checks of what stays flat.
const raceEnabled = true
