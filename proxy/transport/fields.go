package transport

import (
	"bytes"
	"encoding/binary"
	"math/bits"

	"github.com/valyala/fasthttp"
)

// Fields is a set of the header fields that the proxy and the transport remove, replace or
// check, one bit each (FieldOf): finding them in one pass over a head spares a lookup (a
// normalised copy of the name and a scan of every field) per field that is not there, which is
// most of them.
type Fields uint16

const (
	// The hop-by-hop fields (RFC 9110 section 7.6.1), removed in both directions (StripHop), in
	// the order of hopHeaders.
	FieldConnection Fields = 1 << iota
	FieldKeepAlive
	FieldProxyConnection
	FieldTE
	FieldTrailer
	FieldTransferEncoding
	FieldUpgrade

	FieldContentLength // checked (smuggling)
	FieldExpect        // removed: the proxy answers 100-continue itself
	FieldForwarded     // removed, as APISIX does
	FieldXForwardedFor // appended to
	FieldServer        // replaced in responses

	// AllFields is every field above: what a rewrite must look for when nothing is known of a
	// head.
	AllFields = 1<<iota - 1
)

// hopHeaders are the hop-by-hop fields, in the order of their Fields bits, each in the
// canonical form fasthttp stores a name in ("Te", not fasthttp.HeaderTE's "TE"): StripHop deletes
// them without normalising.
var hopHeaders = [...]string{
	fasthttp.HeaderConnection,
	"Keep-Alive",
	"Proxy-Connection",
	"Te",
	fasthttp.HeaderTrailer,
	fasthttp.HeaderTransferEncoding,
	fasthttp.HeaderUpgrade,
}

// FieldOf is the bit of the field named name (in any case), 0 for a field of no interest.
func FieldOf(name []byte) Fields {
	var f Fields
	var want *FoldName
	switch len(name) {
	case 2:
		f, want = FieldTE, &foldTE
	case 6:
		switch name[0] | 0x20 {
		case 'e':
			f, want = FieldExpect, &foldExpect
		case 's':
			f, want = FieldServer, &foldServer
		}
	case 7:
		switch name[0] | 0x20 {
		case 'u':
			f, want = FieldUpgrade, &foldUpgrade
		case 't':
			f, want = FieldTrailer, &foldTrailer
		}
	case 9:
		f, want = FieldForwarded, &foldForwarded
	case 10:
		switch name[0] | 0x20 {
		case 'c':
			f, want = FieldConnection, &foldConnection
		case 'k':
			f, want = FieldKeepAlive, &foldKeepAlive
		}
	case 14:
		f, want = FieldContentLength, &foldContentLength
	case 15:
		f, want = FieldXForwardedFor, &foldXForwardedFor
	case 16:
		f, want = FieldProxyConnection, &foldProxyConnection
	case 17:
		f, want = FieldTransferEncoding, &foldTransferEncoding
	}
	if f == 0 || !want.Equal(name) {
		return 0
	}
	return f
}

// The names FieldOf compares, in lower case.
var (
	foldTE               = NewFoldName("te")
	foldExpect           = NewFoldName("expect")
	foldServer           = NewFoldName("server")
	foldUpgrade          = NewFoldName("upgrade")
	foldTrailer          = NewFoldName("trailer")
	foldForwarded        = NewFoldName("forwarded")
	foldConnection       = NewFoldName("connection")
	foldKeepAlive        = NewFoldName("keep-alive")
	foldContentLength    = NewFoldName("content-length")
	foldXForwardedFor    = NewFoldName("x-forwarded-for")
	foldProxyConnection  = NewFoldName("proxy-connection")
	foldTransferEncoding = NewFoldName("transfer-encoding")
)

// EqualFoldLower reports whether b equals the lower-case ASCII s, ignoring b's case.
func EqualFoldLower(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// FoldName is a lower-case ASCII name of up to 24 bytes, made ready for comparing a field name
// with it in any letter case a word at a time (Equal): for a name the proxy looks for in every
// head, EqualFoldLower's byte loop is most of the cost of looking.
//
// The name is covered by up to three 8-byte words read little-endian, the last one ending where
// the name ends (overlapping the one before when the length is not a multiple of 8); a name
// under 8 bytes is packed into one word from two overlapping halves (foldWords). mask has 0x20 in
// each byte that is a letter: OR-ing it into the same bytes of b lower-cases b's letters there,
// and a byte that ends up equal to the name's letter was that letter in one case or the other
// (only the letter and its upper case differ from it in that bit alone). The other bytes must
// be equal as they are.
type FoldName struct {
	word, mask [3]uint64
	n          int
}

// NewFoldName prepares s, which must be lower-case ASCII of 1 to 24 bytes; it panics otherwise
// (a programming error: the names are constants).
func NewFoldName(s string) FoldName {
	if len(s) == 0 || len(s) > 24 {
		panic("transport.NewFoldName: " + s + ": length not 1 to 24")
	}
	var m []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', c >= 0x80:
			panic("transport.NewFoldName: " + s + ": not lower-case ASCII")
		case 'a' <= c && c <= 'z':
			m = append(m, 0x20)
		default:
			m = append(m, 0)
		}
	}
	k := FoldName{n: len(s)}
	foldWords(&k.word, []byte(s))
	foldWords(&k.mask, m)
	return k
}

// Equal reports whether b is the name, in any letter case.
func (k *FoldName) Equal(b []byte) bool {
	if len(b) != k.n {
		return false
	}
	var w [3]uint64
	foldWords(&w, b)
	return w[0]|k.mask[0] == k.word[0] && w[1]|k.mask[1] == k.word[1] && w[2]|k.mask[2] == k.word[2]
}

// foldWords reads b (1 to 24 bytes) into the words FoldName compares; words past the ones b
// needs stay 0.
func foldWords(w *[3]uint64, b []byte) {
	n := len(b)
	switch {
	case n >= 8:
		w[0] = binary.LittleEndian.Uint64(b)
		if n > 16 {
			w[1] = binary.LittleEndian.Uint64(b[8:])
		}
		if n > 8 {
			w[2] = binary.LittleEndian.Uint64(b[n-8:])
		}
	case n >= 4:
		w[0] = uint64(binary.LittleEndian.Uint32(b)) | uint64(binary.LittleEndian.Uint32(b[n-4:]))<<32
	case n >= 2:
		w[0] = uint64(binary.LittleEndian.Uint16(b)) | uint64(binary.LittleEndian.Uint16(b[n-2:]))<<16
	case n == 1:
		w[0] = uint64(b[0])
	}
}

// Header is a request or response head that StripHop edits: *fasthttp.RequestHeader or
// *fasthttp.ResponseHeader.
type Header interface {
	PeekCanonical(key []byte) []byte
	Del(key string)
	DelBytes(key []byte)
	DisableNormalizing() bool
	EnableNormalizing() bool
}

// StripHop removes from h the hop-by-hop fields and the fields named by Connection, of those
// present holds (AllFields when unknown).
//
// fasthttp copies and normalises the name it is given for every lookup, about 230
// instructions for "Connection", where most clients and upstreams send "Connection:
// keep-alive": the hop-by-hop names, already canonical, are looked up and deleted without it.
// A name the Connection field lists that is itself hop-by-hop is left to the loop over the
// fields present, which deletes it when it is there.
func StripHop(h Header, present Fields) {
	if present&FieldConnection != 0 {
		v := h.PeekCanonical(keyConnection)
		for len(v) > 0 {
			var tok []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				tok, v = v[:i], v[i+1:]
			} else {
				tok, v = v, nil
			}
			if tok = bytes.TrimSpace(tok); len(tok) > 0 && FieldOf(tok)&hopFields == 0 {
				h.DelBytes(tok)
			}
		}
	}
	// Only the fields present, by their bits: most heads have none, and a loop over every
	// name cost about 14 instructions a name, twice a request.
	if m := uint16(present & hopFields); m != 0 {
		wasOff := h.DisableNormalizing()
		for ; m != 0; m &= m - 1 {
			h.Del(hopHeaders[bits.TrailingZeros16(m)])
		}
		if !wasOff {
			h.EnableNormalizing()
		}
	}
}

// keyConnection is "Connection", for PeekCanonical. Never written to.
var keyConnection = []byte(fasthttp.HeaderConnection)

// hopFields is the bits of hopHeaders.
const hopFields = 1<<len(hopHeaders) - 1

// cleanResponse makes the upstream's response head the client's: hop-by-hop headers out, the
// proxy's own Server header instead of the upstream's.
func cleanResponse(h *fasthttp.ResponseHeader) {
	var present Fields
	for k := range h.All() {
		present |= FieldOf(k)
	}
	StripHop(h, present)
	if present&FieldServer != 0 { // most upstreams send one
		wasOff := h.DisableNormalizing() // a canonical name (StripHop)
		h.Del(fasthttp.HeaderServer)
		if !wasOff {
			h.EnableNormalizing()
		}
	}
	h.ResetConnectionClose()
}
