package plugin

import (
	"io"

	"github.com/valyala/fasthttp"
)

// BodyFilterer takes part in the body filter phase (APISIX's body_filter): it transforms the
// response body. BodyFilter is called in the header filter phase, at the plugin's place in the
// run order (after its HeaderFilter, when it has one); it may change the response head as a
// header filter does, and returns what transforms this response's body, or nil to leave the
// body as it is. It is not called for the body of a response that has none (HEAD, 204, 304):
// it is called with NoBody(r) true there, and what it returns is dropped.
//
// The returned BodyFilter must not keep r: the body streams to the client after the request's
// plugin state is gone.
type BodyFilterer interface {
	BodyFilter(r *Request) BodyFilter
}

// Encoder is a BodyFilterer that encodes the body (gzip): as nginx's filter modules run after
// the Lua body filters, its BodyFilter is called after every other plugin's header and body
// filter of the request, and its filter gets their output.
type Encoder interface {
	BodyFilterer
	Encoder()
}

// BodyFilter transforms one response body as it streams to the client. Filter gets the body in
// pieces, in order, and appends what goes to the client instead to dst, which it returns; eof
// marks the last call (its piece may be empty). done asks for no more input: the rest of the
// body is not read, and what Filter returned with done is the end of its output (the filters
// after it get eof). A BodyFilter belongs to one response and is used by one goroutine at a
// time; it must not keep piece or dst after returning.
//
// A filter that holds the body back (a regex over the whole body) must cap what it holds: a
// body of any size streams through the phase. A filter that is also an io.Closer is closed when
// its body is done with, complete or not (a pooled compressor goes back to its pool).
type BodyFilter interface {
	Filter(dst, piece []byte, eof bool) (out []byte, done bool)
}

// NoBody reports whether the response being filtered has no body to send (a HEAD request, a
// 1xx, 204 or 304 status).
func NoBody(r *Request) bool {
	if r.Ctx.Request.Header.IsHead() {
		return true
	}
	s := r.Ctx.Response.StatusCode()
	return s < 200 || s == fasthttp.StatusNoContent || s == fasthttp.StatusNotModified
}

// filterBody calls e's BodyFilter, keeping the filter it returns unless the response has no
// body.
func (r *Request) filterBody(e *Entry) {
	if f := e.body.BodyFilter(r); f != nil && !NoBody(r) {
		r.bodies = append(r.bodies, f)
	}
}

// HasBodyFilter reports whether the response's body is to be transformed: a plugin's
// BodyFilter returned a filter that neither FilterBody nor FilterBufferedBody took yet.
func (r *Request) HasBodyFilter() bool { return len(r.bodies) > 0 }

// FilterBody returns the body that streams to the client in place of src, an upstream body read
// as it is sent: src through the request's body filters, or nil when there are none (src is
// then sent as it is). Closing what it returns closes src. The transport calls it once the
// response head passed the header filters (it is transport.BodyFilter).
func (r *Request) FilterBody(src io.ReadCloser) io.ReadCloser {
	if len(r.bodies) == 0 {
		return nil
	}
	b := &bodyReader{src: src, filters: r.takeBodies()}
	b.outs = make([][]byte, len(b.filters))
	return b
}

// FilterBufferedBody runs the request's body filters over a response body held whole in
// ctx.Response (a small upstream body, a plugin's answer, an error page) and replaces it by
// their output; fasthttp then sends it with its new Content-Length. It does nothing when no
// filter is pending, or when the response streams or the connection was hijacked.
func (r *Request) FilterBufferedBody() {
	if len(r.bodies) == 0 {
		return
	}
	resp := &r.Ctx.Response
	fs := r.takeBodies()
	if resp.IsBodyStream() || r.Ctx.Hijacked() {
		return
	}
	body := resp.Body()
	for _, f := range fs {
		body, _ = f.Filter(nil, body, true)
	}
	resp.SetBody(body)
}

// takeBodies hands the pending filters over to one body, leaving none in r.
func (r *Request) takeBodies() []BodyFilter {
	fs := make([]BodyFilter, len(r.bodies))
	copy(fs, r.bodies)
	clear(r.bodies)
	r.bodies = r.bodies[:0]
	return fs
}

// bodyReadSize is how much of the upstream body one Read of a filtered body takes at a time.
const bodyReadSize = 32 << 10

// bodyReader is an upstream body passing through body filters on its way to the client: it
// holds one piece of it at a time (what the filters keep back is theirs to cap). It is read by
// the connection's goroutine, after the handler returned.
type bodyReader struct {
	src     io.ReadCloser
	filters []BodyFilter
	in      []byte
	outs    [][]byte // each filter's output buffer, reused across pieces
	out     []byte   // what is left to hand out
	ended   bool     // the filters saw eof (or asked for no more)
	err     error    // src's failure, returned once out is handed out
}

// Read implements io.Reader.
func (b *bodyReader) Read(p []byte) (int, error) {
	for len(b.out) == 0 {
		if b.ended {
			if b.err != nil {
				return 0, b.err
			}
			return 0, io.EOF
		}
		if b.in == nil {
			b.in = make([]byte, bodyReadSize)
		}
		n, err := b.src.Read(b.in)
		eof := err == io.EOF
		if err != nil && !eof {
			// The upstream's body broke: the client's ends short too, not cleanly.
			b.ended, b.err = true, err
			return 0, err
		}
		if n == 0 && !eof {
			continue
		}
		b.out = b.run(b.in[:n], eof)
	}
	n := copy(p, b.out)
	b.out = b.out[n:]
	return n, nil
}

// run passes one piece through the filters, in order.
func (b *bodyReader) run(piece []byte, eof bool) []byte {
	for i, f := range b.filters {
		out, done := f.Filter(b.outs[i][:0], piece, eof)
		b.outs[i] = out
		piece = out
		eof = eof || done
	}
	if eof {
		b.ended = true
		// What the upstream has left is not wanted: the connection is not reused.
		_ = b.src.Close()
	}
	return piece
}

// Close implements io.Closer: src is closed, and the filters that are io.Closers.
func (b *bodyReader) Close() error {
	for _, f := range b.filters {
		if c, ok := f.(io.Closer); ok {
			_ = c.Close()
		}
	}
	return b.src.Close()
}
