//go:build goexperiment.jsonv2

package specconv

// jsonOffsetPast is how far past the offending byte or value the decoder's
// error offsets point: encoding/json on the v2 engine (GOEXPERIMENT=jsonv2,
// the Makefile's build) points at the byte, or at the value's first byte.
const jsonOffsetPast = 0
