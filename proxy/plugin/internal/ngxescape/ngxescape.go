// Package ngxescape percent-encodes bytes as nginx's ngx_escape_uri does (%XX, upper-case hex),
// with the byte sets that the plugins building a request URI or a Location header escape.
//
// Concurrency: the sets are immutable once the package is initialised; Append is safe for
// concurrent use and allocates only when dst must grow.
package ngxescape

import "strings"

// Set marks the bytes that are escaped.
type Set [256]bool

// The sets.
var (
	// URI is nginx's NGX_ESCAPE_URI: space, "#", "%", "?", control characters and non-ASCII.
	URI = newSet(func(b byte) bool { return control(b) || b >= 0x7f || strings.IndexByte(" #%?", b) >= 0 })
	// Control is APISIX's escape_uri_control_chars: control characters and DEL, so that a
	// value never splits a request or response head.
	Control = newSet(control)
	// UnsafeURI is what a URI passed on unescaped still escapes: control characters, DEL and
	// space, so that the request line never breaks.
	UnsafeURI = newSet(func(b byte) bool { return control(b) || b == ' ' })
)

func control(b byte) bool { return b < 0x20 || b == 0x7f }

func newSet(escaped func(byte) bool) *Set {
	s := new(Set)
	for b := range 256 {
		s[b] = escaped(byte(b))
	}
	return s
}

const upperHex = "0123456789ABCDEF"

// Append appends src to dst with every byte of s written as %XX. src may be a part of dst.
func (s *Set) Append(dst, src []byte) []byte {
	for _, b := range src {
		if s[b] {
			dst = append(dst, '%', upperHex[b>>4], upperHex[b&15])
		} else {
			dst = append(dst, b)
		}
	}
	return dst
}
