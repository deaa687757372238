// Package gzip is APISIX's gzip plugin (apache/apisix apisix/plugins/gzip.lua), which turns on
// nginx's gzip filter for a route: response bodies are compressed for clients that accept it.
//
// Conf: types (["text/html"] by default; "*" is every type), min_length (20: a body whose length
// is known and shorter is left alone), comp_level (1-9, 1), http_version (1.1: an HTTP/1.0
// client gets no gzip; 1.0 lets it), buffers ({number, size}: accepted, unused: compression
// streams through Go's compress/gzip), vary (adds "Vary: Accept-Encoding").
//
// Phases: header and body filter (an Encoder: it decides once every other plugin's header and
// body filter ran, as nginx's gzip filter runs after the Lua ones, and compresses their output),
// priority 995. As nginx's gzip module (ngx_http_gzip_filter_module.c) with gzip_proxied off: a
// response is compressed only when its status is 200, 403 or 404, it has a Content-Type in
// types, no Content-Encoding (never compressed twice), the client's Accept-Encoding has gzip
// (not q=0) and the request has no Via header. Content-Length is dropped (the body streams
// chunked, or goes with its compressed length), Content-Encoding: gzip set, a strong ETag made
// weak. The body is compressed piece by piece as it streams: it is never held whole.
package gzip

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "gzip"
	Priority = 995
)

// Plugin is gzip.
var Plugin plugin.Plugin = gzipPlugin{}

type gzipPlugin struct{}

func (gzipPlugin) Name() string  { return Name }
func (gzipPlugin) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	types     []string // nil: every type
	minLength int
	level     int
	http10    bool // http_version 1.0: HTTP/1.0 clients too
	vary      bool
}

func (gzipPlugin) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{types: []string{"text/html"}}
	if t, ok := c.Raw("types"); ok {
		if string(bytes.TrimSpace(t)) == `"*"` {
			conf.types = nil
		} else {
			types, err := c.StringList("types", 1, false)
			if err != nil || slicesHasEmpty(types) {
				return nil, fmt.Errorf(`property "types" validation failed: %w`, plugin.ErrAnyOf)
			}
			conf.types = types
		}
	}
	if conf.minLength, err = c.Int("min_length", 20); err != nil {
		return nil, err
	}
	if conf.minLength < 1 {
		return nil, fmt.Errorf(`property "min_length" validation failed: expected %d to be at least 1`, conf.minLength)
	}
	if conf.level, err = c.Int("comp_level", 1); err != nil {
		return nil, err
	}
	if conf.level < 1 {
		return nil, fmt.Errorf(`property "comp_level" validation failed: expected %d to be at least 1`, conf.level)
	}
	if conf.level > 9 {
		return nil, fmt.Errorf(`property "comp_level" validation failed: expected %d to be at most 9`, conf.level)
	}
	if v, ok := c.Raw("http_version"); ok {
		switch f, err := strconv.ParseFloat(string(bytes.TrimSpace(v)), 64); {
		case err == nil && f == 1.1:
		case err == nil && f == 1.0:
			conf.http10 = true
		default:
			return nil, fmt.Errorf(`property "http_version" validation failed: matches none of the enum values`)
		}
	}
	if b, ok := c.Raw("buffers"); ok {
		bc, err := plugin.ParseConf(b)
		if err != nil {
			return nil, fmt.Errorf(`property "buffers" validation failed: %w`, err)
		}
		for _, name := range []string{"number", "size"} {
			n, err := bc.Int(name, 1)
			if err != nil {
				return nil, fmt.Errorf(`property "buffers" validation failed: %w`, err)
			}
			if n < 1 {
				return nil, fmt.Errorf(`property "buffers" validation failed: property %q validation failed: expected %d to be at least 1`, name, n)
			}
		}
	}
	if conf.vary, err = c.Bool("vary", false); err != nil {
		return nil, err
	}
	return conf, nil
}

func slicesHasEmpty(ss []string) bool {
	for _, s := range ss {
		if s == "" {
			return true
		}
	}
	return false
}

// Encoder marks gzip as the filter that encodes the body.
func (c *Conf) Encoder() {}

// BodyFilter decides whether the response is compressed and returns what compresses it.
func (c *Conf) BodyFilter(r *plugin.Request) plugin.BodyFilter {
	ctx := r.Ctx
	resp := &ctx.Response
	h := &resp.Header
	switch resp.StatusCode() {
	case fasthttp.StatusOK, fasthttp.StatusForbidden, fasthttp.StatusNotFound:
	default:
		return nil
	}
	if len(h.Peek(fasthttp.HeaderContentEncoding)) > 0 || plugin.NoBody(r) {
		return nil
	}
	if !c.http10 && !ctx.Request.Header.IsHTTP11() {
		return nil
	}
	if len(ctx.Request.Header.Peek(fasthttp.HeaderVia)) > 0 || !acceptsGzip(ctx.Request.Header.Peek(fasthttp.HeaderAcceptEncoding)) {
		return nil
	}
	ct := h.ContentType()
	if len(ct) == 0 || len(h.Peek(fasthttp.HeaderContentType)) == 0 {
		return nil
	}
	if c.types != nil {
		if i := bytes.IndexByte(ct, ';'); i >= 0 {
			ct = ct[:i]
		}
		matched := false
		for _, t := range c.types {
			if string(ct) == t {
				matched = true
				break
			}
		}
		if !matched {
			return nil
		}
	}
	if n := knownLength(r); n >= 0 && n < c.minLength {
		return nil
	}
	h.Set(fasthttp.HeaderContentEncoding, "gzip")
	if etag := h.Peek(fasthttp.HeaderETag); len(etag) > 0 && etag[0] == '"' {
		r.Scratch = append(append(r.Scratch[:0], "W/"...), etag...)
		h.SetBytesV(fasthttp.HeaderETag, r.Scratch)
	}
	if c.vary {
		h.Add(fasthttp.HeaderVary, "Accept-Encoding")
	}
	return &body{level: c.level}
}

// knownLength is the length of the body as the response head has it, -1 when unknown: a body
// filter before gzip changes it; a body held whole has its own length; a streamed one the
// Content-Length the upstream declared.
func knownLength(r *plugin.Request) int {
	if r.HasBodyFilter() {
		return -1
	}
	resp := &r.Ctx.Response
	if b := resp.Body(); len(b) > 0 {
		return len(b)
	}
	return resp.Header.ContentLength()
}

// acceptsGzip reports whether an Accept-Encoding value has gzip (or x-gzip) with a q other
// than 0.
func acceptsGzip(v []byte) bool {
	for len(v) > 0 {
		var item []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			item, v = v[:i], v[i+1:]
		} else {
			item, v = v, nil
		}
		name, params, _ := bytes.Cut(item, []byte(";"))
		name = bytes.TrimSpace(name)
		if !bytes.EqualFold(name, []byte("gzip")) && !bytes.EqualFold(name, []byte("x-gzip")) {
			continue
		}
		return !zeroQ(params)
	}
	return false
}

func zeroQ(params []byte) bool {
	for _, p := range bytes.Split(params, []byte(";")) {
		k, val, ok := bytes.Cut(bytes.TrimSpace(p), []byte("="))
		if !ok || !bytes.EqualFold(bytes.TrimSpace(k), []byte("q")) {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(string(val)), 64)
		return err == nil && q == 0
	}
	return false
}

// writers pools gzip writers by level.
var writers [10]sync.Pool

// sink is where a gzip writer puts its output: the dst of the Filter call under way.
type sink struct{ b []byte }

func (s *sink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// body compresses one response body as it streams.
type body struct {
	level int
	w     *gzip.Writer
	out   sink
}

func (b *body) Filter(dst, piece []byte, eof bool) ([]byte, bool) {
	if b.w == nil {
		if w, ok := writers[b.level].Get().(*gzip.Writer); ok {
			w.Reset(&b.out)
			b.w = w
		} else {
			b.w, _ = gzip.NewWriterLevel(&b.out, b.level)
		}
	}
	b.out.b = dst
	if len(piece) > 0 {
		_, _ = b.w.Write(piece)
	}
	if eof {
		_ = b.w.Close()
		b.release()
	}
	out := b.out.b
	b.out.b = nil
	return out, false
}

// Close implements io.Closer: a body cut short gives its writer back too.
func (b *body) Close() error {
	b.release()
	return nil
}

func (b *body) release() {
	if b.w != nil {
		b.w.Reset(io.Discard)
		writers[b.level].Put(b.w)
		b.w = nil
	}
}
