//go:build !goexperiment.jsonv2

package specconv

// jsonOffsetPast is how far past the offending byte or value the decoder's
// error offsets point: encoding/json's own decoder counts the bytes it read.
const jsonOffsetPast = 1
