package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// bodyPlugin is a test plugin whose conf's "do" names what its body filter does: "upper" upper-cases
// the body, "wrap" puts [ and ] around it, "cut" passes the first 4 bytes and asks for no more;
// enc marks it an Encoder.
type bodyPlugin struct {
	name string
	prio int
	enc  bool
}

func (p *bodyPlugin) Name() string  { return p.name }
func (p *bodyPlugin) Priority() int { return p.prio }
func (p *bodyPlugin) Compile(conf []byte, _ *Env) (Instance, error) {
	var c struct{ Do string }
	if err := json.Unmarshal(conf, &c); err != nil {
		return nil, err
	}
	if p.enc {
		return encInst{bodyInst(c.Do)}, nil
	}
	return bodyInst(c.Do), nil
}

type bodyInst string

func (b bodyInst) BodyFilter(r *Request) BodyFilter {
	trace = append(trace, "body:"+string(b))
	r.Ctx.Response.Header.Set("X-"+string(b), "1")
	switch b {
	case "upper":
		return upper{}
	case "wrap":
		return &wrap{}
	case "cut":
		return &cut{}
	case "closer":
		return &closer{}
	}
	return nil
}

type encInst struct{ bodyInst }

func (encInst) Encoder() {}

type upper struct{}

func (upper) Filter(dst, piece []byte, _ bool) ([]byte, bool) {
	return append(dst, bytes.ToUpper(piece)...), false
}

type wrap struct{ started bool }

func (w *wrap) Filter(dst, piece []byte, eof bool) ([]byte, bool) {
	if !w.started {
		w.started = true
		dst = append(dst, '[')
	}
	dst = append(dst, piece...)
	if eof {
		dst = append(dst, ']')
	}
	return dst, false
}

// closer passes the body and records that it was closed.
type closer struct{ closed int }

func (c *closer) Filter(dst, piece []byte, _ bool) ([]byte, bool) {
	return append(dst, piece...), false
}
func (c *closer) Close() error { c.closed++; return nil }

type cut struct{ n int }

func (c *cut) Filter(dst, piece []byte, _ bool) ([]byte, bool) {
	k := min(len(piece), 4-c.n)
	c.n += k
	return append(dst, piece[:k]...), c.n == 4
}

// pieces is a body read a few bytes at a time, counting what was read, and whether it was
// closed.
type pieces struct {
	data   []byte
	read   int
	closed bool
	fail   error
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.read == len(p.data) {
		if p.fail != nil {
			return 0, p.fail
		}
		return 0, io.EOF
	}
	n := copy(b[:min(len(b), 3)], p.data[p.read:])
	p.read += n
	return n, nil
}

func (p *pieces) Close() error { p.closed = true; return nil }

func bodyChain(t *testing.T, confs map[string]string) *Chain {
	t.Helper()
	plugs := []Plugin{&bodyPlugin{name: "enc", prio: 5000, enc: true}, &bodyPlugin{name: "b1", prio: 2000}, &bodyPlugin{name: "b2", prio: 1000}}
	enabled := map[string]bool{"enc": true, "b1": true, "b2": true}
	raw := map[string]json.RawMessage{}
	for k, v := range confs {
		raw[k] = json.RawMessage(v)
	}
	pol := &Policy{Registry: NewRegistry(plugs...), Enabled: enabled}
	set, _, _, err := pol.CompileSet(raw, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return Merge(set)
}

func TestBodyFilterPhase(t *testing.T) {
	tests := []struct {
		name   string
		confs  map[string]string
		method string
		status int
		body   string
		want   string
		order  string
		closed bool // the upstream body was closed before its end
	}{
		{"one filter", map[string]string{"b1": `{"do":"upper"}`}, "GET", 200, "hello body", "HELLO BODY", "body:upper", false},
		{"filters in priority order", map[string]string{"b1": `{"do":"upper"}`, "b2": `{"do":"wrap"}`}, "GET", 200, "abc", "[ABC]", "body:upper,body:wrap", false},
		{"the encoder last", map[string]string{"enc": `{"do":"wrap"}`, "b1": `{"do":"upper"}`}, "GET", 200, "abc", "[ABC]", "body:upper,body:wrap", false},
		{"done stops the read", map[string]string{"b1": `{"do":"cut"}`, "b2": `{"do":"wrap"}`}, "GET", 200, "abcdefghijkl", "[abcd]", "body:cut,body:wrap", true},
		{"none returned", map[string]string{"b1": `{"do":"none"}`}, "GET", 200, "abc", "abc", "body:none", false},
		{"HEAD has no body", map[string]string{"b1": `{"do":"upper"}`}, "HEAD", 200, "abc", "abc", "body:upper", false},
		{"204 has no body", map[string]string{"b1": `{"do":"upper"}`}, "GET", 204, "abc", "abc", "body:upper", false},
	}
	for _, tt := range tests {
		for _, streamed := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: " buffered", true: " streamed"}[streamed], func(t *testing.T) {
				trace = nil
				ctx := &fasthttp.RequestCtx{}
				ctx.Request.Header.SetMethod(tt.method)
				ctx.Response.SetStatusCode(tt.status)
				r := &Request{Ctx: ctx}
				chain := bodyChain(t, tt.confs)
				if !chain.HasHeaderFilter() {
					t.Fatal("a body filter chain has no header filter phase")
				}
				r.Run(nil, chain)
				r.HeaderFilter()
				if got := strings.Join(trace, ","); got != tt.order {
					t.Errorf("calls %s, want %s", got, tt.order)
				}
				if last := tt.order[strings.LastIndex(tt.order, ":")+1:]; ctx.Response.Header.Peek("X-"+last) == nil {
					t.Errorf("head not changed by the body filterer")
				}
				var got string
				src := &pieces{data: []byte(tt.body)}
				if streamed {
					b := r.FilterBody(src)
					if b == nil {
						got = tt.body
					} else {
						out, err := io.ReadAll(b)
						if err != nil {
							t.Fatal(err)
						}
						got = string(out)
						if src.closed != (tt.closed || src.read == len(src.data)) {
							t.Errorf("upstream closed %v after %d of %d bytes", src.closed, src.read, len(src.data))
						}
					}
				} else {
					ctx.Response.SetBody([]byte(tt.body))
					r.FilterBufferedBody()
					got = string(ctx.Response.Body())
				}
				if got != tt.want {
					t.Errorf("body %q, want %q", got, tt.want)
				}
				if r.HasBodyFilter() {
					t.Error("filters still pending after the body took them")
				}
			})
		}
	}
}

// TestBodyFilterBrokenUpstream: a body that breaks upstream breaks the client's too, after what
// the filters made of the part that came.
func TestBodyFilterBrokenUpstream(t *testing.T) {
	ctx := &fasthttp.RequestCtx{}
	r := &Request{Ctx: ctx}
	r.Run(nil, bodyChain(t, map[string]string{"b1": `{"do":"upper"}`}))
	r.HeaderFilter()
	cut := errors.New("upstream cut")
	b := r.FilterBody(&pieces{data: []byte("abcdef"), fail: cut})
	out, err := io.ReadAll(b)
	if string(out) != "ABCDEF" || !errors.Is(err, cut) {
		t.Fatalf("%q, %v; want the part that came and the upstream's error", out, err)
	}
}

// TestBodyFilterClosed: a filter that is an io.Closer is closed with its body, also when the
// body is cut short.
func TestBodyFilterClosed(t *testing.T) {
	ctx := &fasthttp.RequestCtx{}
	r := &Request{Ctx: ctx}
	r.Run(nil, bodyChain(t, map[string]string{"b1": `{"do":"closer"}`}))
	r.HeaderFilter()
	src := &pieces{data: []byte("abcdef")}
	b := r.FilterBody(src)
	if _, err := b.Read(make([]byte, 2)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if c := b.(*bodyReader).filters[0].(*closer); c.closed != 1 || !src.closed {
		t.Errorf("filter closed %d times, upstream body closed %v", c.closed, src.closed)
	}
}
