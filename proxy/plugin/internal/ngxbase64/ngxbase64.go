// Package ngxbase64 decodes base64 as nginx's ngx_decode_base64 does (what APISIX's plugins get
// from ngx.decode_base64, ngx.base64.decode_base64url and lua-resty-jwt): lenient about padding
// and trailing bits, strict about the alphabet. It allocates nothing beyond what dst needs.
//
// Concurrency: the alphabets are immutable; Decode is safe for concurrent use.
package ngxbase64

import "slices"

// Alphabet maps a byte to its 6-bit value, 0xff for a byte outside the alphabet.
type Alphabet [256]byte

// The alphabets: standard (+/), URL-safe (-_), and both at once (lua-resty-jwt maps '-' and '_'
// to '+' and '/' before decoding a token's header and payload as standard base64).
var Std, URL, Mixed = alphabets()

func alphabets() (std, url, mixed *Alphabet) {
	std, url, mixed = new(Alphabet), new(Alphabet), new(Alphabet)
	for i := range 256 {
		std[i], url[i], mixed[i] = 0xff, 0xff, 0xff
	}
	const core = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	for i := 0; i < len(core); i++ {
		std[core[i]], url[core[i]], mixed[core[i]] = byte(i), byte(i), byte(i)
	}
	std['+'], std['/'] = 62, 63
	url['-'], url['_'] = 62, 63
	mixed['+'], mixed['/'], mixed['-'], mixed['_'] = 62, 63, 62, 63
	return std, url, mixed
}

// Decode appends the decoding of src to dst, as ngx_decode_base64: the characters before the
// first '=' must all be in the alphabet, their number must not be 1 modulo 4, and trailing bits
// and anything after the '=' are ignored. ok is false when src does not decode.
func Decode(dst, src []byte, alphabet *Alphabet) (_ []byte, ok bool) {
	n := 0
	for n < len(src) && src[n] != '=' {
		if alphabet[src[n]] == 0xff {
			return dst, false
		}
		n++
	}
	if n%4 == 1 {
		return dst, false
	}
	dst = slices.Grow(dst, n*3/4)
	src = src[:n]
	// Four characters make three bytes; the tail (2 or 3 characters) is done bit by bit.
	for len(src) >= 4 {
		v := uint32(alphabet[src[0]])<<18 | uint32(alphabet[src[1]])<<12 | uint32(alphabet[src[2]])<<6 | uint32(alphabet[src[3]])
		dst = append(dst, byte(v>>16), byte(v>>8), byte(v))
		src = src[4:]
	}
	var acc uint32
	bits := 0
	for _, c := range src {
		acc = acc<<6 | uint32(alphabet[c])
		bits += 6
		if bits >= 8 {
			bits -= 8
			dst = append(dst, byte(acc>>bits))
		}
	}
	return dst, true
}
