package h2

import (
	"errors"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// blockReader decodes a HEADERS frame and its CONTINUATION frames into a header list, with the
// checks and bounds of x/net/http2's Framer.readMetaFrame (field names lowercase tokens, values
// without CR, LF or NUL, pseudo-header fields first and once each, MAX_HEADER_LIST_SIZE, the
// CONTINUATION flood bound of 2024), into state kept on the connection: readMetaFrame's
// per-block frame, closure and its captured variables, and the Fields slice grown field by
// field, were some eight allocations per request. The reader goroutine alone uses it; the
// header list it returns is valid until the next block.
type blockReader struct {
	dec  *hpack.Decoder
	max  uint32 // the header list size bound
	meta http2.MetaHeadersFrame

	// The block being decoded.
	headersLeft, trailersLeft uint32
	sawRegular                bool
	invalid                   error
}

func (b *blockReader) init(max uint32) {
	b.max = max
	b.dec = hpack.NewDecoder(4096, b.emit)
	b.dec.SetMaxStringLength(int(max))
}

// emit takes one decoded field.
func (b *blockReader) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		b.invalid = errors.New("invalid header field value for " + hf.Name)
	}
	if strings.HasPrefix(hf.Name, ":") {
		if b.sawRegular {
			b.invalid = errors.New("pseudo header field after regular")
		}
	} else {
		b.sawRegular = true
		if !validWireName(hf.Name) {
			b.invalid = errors.New("invalid header field name")
		}
	}
	if b.invalid != nil {
		b.dec.SetEmitEnabled(false)
		return
	}
	left, size := &b.headersLeft, hf.Size()
	if hf.Name == "trailer" {
		// As readMetaFrame: the announced trailers count against their own budget.
		n := uint32(strings.Count(hf.Value, ",") + 1)
		left, size = &b.trailersLeft, uint32(len(hf.Value))-n+1+n*hpack.HeaderField{}.Size()
	}
	if size > *left {
		b.dec.SetEmitEnabled(false)
		b.meta.Truncated = true
		b.headersLeft, b.trailersLeft = 0, 0
		return
	}
	*left -= size
	b.meta.Fields = append(b.meta.Fields, hf)
}

// read decodes the header block hf starts, reading its CONTINUATION frames from fr. Errors are
// those readMetaFrame returns: a ConnectionError for a block too large to decode, a field that
// breaks the rules followed by more of the block, or bad HPACK; a StreamError for a field that
// breaks the rules or bad pseudo-header fields.
func (b *blockReader) read(fr *http2.Framer, hf *http2.HeadersFrame) (*http2.MetaHeadersFrame, error) {
	clear(b.meta.Fields) // let the previous list's strings go
	b.meta = http2.MetaHeadersFrame{HeadersFrame: hf, Fields: b.meta.Fields[:0]}
	b.headersLeft, b.trailersLeft = b.max, b.max
	b.sawRegular, b.invalid = false, nil
	b.dec.SetEmitEnabled(true)
	var hc interface {
		HeaderBlockFragment() []byte
		HeadersEnded() bool
	} = hf
	for {
		frag := hc.HeaderBlockFragment()
		// A fragment more than twice what the list may still hold, or any after the list
		// went past its bound, is a flood: the connection ends without decoding it.
		if int64(len(frag)) > 2*int64(b.headersLeft+b.trailersLeft) || b.invalid != nil {
			return nil, http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if _, err := b.dec.Write(frag); err != nil {
			return nil, http2.ConnectionError(http2.ErrCodeCompression)
		}
		if hc.HeadersEnded() {
			break
		}
		f, err := fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		hc = f.(*http2.ContinuationFrame) // the framer lets only CONTINUATION follow here
	}
	if err := b.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if b.invalid != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: b.invalid}
	}
	if err := checkPseudos(b.meta.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: hf.StreamID, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return &b.meta, nil
}

// checkPseudos refuses unknown or repeated pseudo-header fields and a mix of request and
// response ones, as readMetaFrame.
func checkPseudos(pf []hpack.HeaderField) error {
	var request, response bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			request = true
		case ":status":
			response = true
		default:
			return errors.New("invalid pseudo-header " + hf.Name)
		}
		for _, prev := range pf[:i] {
			if hf.Name == prev.Name {
				return errors.New("duplicate pseudo-header " + hf.Name)
			}
		}
	}
	if request && response {
		return errors.New("mix of request and response pseudo headers")
	}
	return nil
}

// validWireName reports a field name of lowercase token characters (RFC 9113 section 8.2.1).
func validWireName(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !httpguts.IsTokenRune(rune(c)) || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}
