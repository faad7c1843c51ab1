package ocispec

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
)

// Digest names content by its hash: "algorithm:encoded", for example
// "sha256:" and 64 lowercase hex digits (image-spec descriptor.md).
type Digest string

// Algorithm is the part of a digest before the colon.
type Algorithm string

// SHA256 is the one algorithm strata hashes with and accepts: the image
// spec requires it, and no image strata reads or writes uses another.
const SHA256 Algorithm = "sha256"

// The errors Validate wraps.
var (
	ErrDigestFormat      = errors.New("invalid digest format (expected algorithm:encoded)")
	ErrDigestUnsupported = errors.New("unsupported digest algorithm")
	ErrDigestEncoding    = errors.New("invalid encoded digest")
)

// String returns a as written in a digest.
func (a Algorithm) String() string { return string(a) }

// Hash returns a new hash for a, or nil for an algorithm strata does not
// support.
func (a Algorithm) Hash() hash.Hash {
	if a == SHA256 {
		return sha256.New()
	}
	return nil
}

// FromBytes returns the digest of data with a, or "" for an unsupported
// algorithm (which matches no valid digest).
func (a Algorithm) FromBytes(data []byte) Digest {
	h := a.Hash()
	if h == nil {
		return ""
	}
	h.Write(data)
	return FromHash(a, h)
}

// FromBytes returns the sha256 digest of data.
func FromBytes(data []byte) Digest { return SHA256.FromBytes(data) }

// FromHash returns the digest that h, a hash of algorithm a, has summed so
// far.
func FromHash(a Algorithm, h hash.Hash) Digest {
	return FromEncoded(a, hex.EncodeToString(h.Sum(nil)))
}

// FromEncoded joins an algorithm and an encoded hash into a digest.
func FromEncoded(a Algorithm, encoded string) Digest {
	return Digest(string(a) + ":" + encoded)
}

// String returns d as written.
func (d Digest) String() string { return string(d) }

// Algorithm returns the part of d before the colon ("" without one).
func (d Digest) Algorithm() Algorithm {
	a, _, ok := strings.Cut(string(d), ":")
	if !ok {
		return ""
	}
	return Algorithm(a)
}

// Encoded returns the part of d after the colon.
func (d Digest) Encoded() string {
	_, enc, _ := strings.Cut(string(d), ":")
	return enc
}

// Validate checks that d is a well-formed digest of a supported algorithm,
// so that it can name a file (blobs/ALG/ENCODED) and be compared with a hash.
// The grammar is descriptor.md's: algorithm is lowercase components joined
// by one of "+._-", encoded is [a-zA-Z0-9=_-]+; sha256 requires 64
// lowercase hex digits.
func (d Digest) Validate() error {
	alg, enc, ok := strings.Cut(string(d), ":")
	if !ok || !validAlgorithm(alg) || !validEncoded(enc) {
		return ErrDigestFormat
	}
	if Algorithm(alg) != SHA256 {
		return fmt.Errorf("%w %q", ErrDigestUnsupported, alg)
	}
	if len(enc) != 2*sha256.Size {
		return fmt.Errorf("%w: %s needs %d hex digits, not %d", ErrDigestEncoding, alg, 2*sha256.Size, len(enc))
	}
	for _, c := range []byte(enc) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return fmt.Errorf("%w: %s needs lowercase hex digits", ErrDigestEncoding, alg)
		}
	}
	return nil
}

// validAlgorithm: [a-z0-9]+ components separated by single [+._-].
func validAlgorithm(s string) bool {
	if s == "" {
		return false
	}
	sep := true // at the start, as after a separator, a component must follow
	for _, c := range []byte(s) {
		switch {
		case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			sep = false
		case c == '+' || c == '.' || c == '_' || c == '-':
			if sep {
				return false
			}
			sep = true
		default:
			return false
		}
	}
	return !sep
}

// validEncoded: [a-zA-Z0-9=_-]+.
func validEncoded(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '=' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
