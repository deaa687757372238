// Package echo is APISIX's echo plugin (apache/apisix apisix/plugins/echo.lua): text put before
// or after the response body, or in place of it, and headers set on the response.
//
// Conf: before_body, body, after_body (strings, at least one of the three), headers (an object
// of at least one field; string or number values, set as they are, no $vars).
//
// Phases: header and body filter, priority 412. body replaces the body (the upstream is still
// called; what it sends after the first piece is not read); before_body and after_body wrap
// whatever the body is. Any of the three drops Content-Length (the proxy sends the new one, or
// chunks), Content-Encoding, ETag and Last-Modified.
package echo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/respheader"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/tmpl"
)

// Name and Priority are APISIX's.
const (
	Name     = "echo"
	Priority = 412
)

// Plugin is echo.
var Plugin plugin.Plugin = echo{}

type echo struct{}

func (echo) Name() string  { return Name }
func (echo) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	before, body, after string
	hasBody             bool
	changes             bool // one of the three is set
	headers             [][2]string
}

func (echo) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.MinProperties(1); err != nil {
		return nil, err
	}
	conf := &Conf{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"before_body", &conf.before}, {"body", &conf.body}, {"after_body", &conf.after}} {
		if *f.dst, err = c.String(f.name, ""); err != nil {
			return nil, err
		}
	}
	conf.hasBody = c.Has("body")
	conf.changes = conf.hasBody || c.Has("before_body") || c.Has("after_body")
	if !conf.changes {
		return nil, fmt.Errorf("object matches none of the required: [before_body] or [body] or [after_body]")
	}
	if h, ok := c.Raw("headers"); ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(h, &m) != nil || m == nil {
			return nil, fmt.Errorf(`property "headers" validation failed: wrong type: expected object`)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf(`property "headers" validation failed: expect object to have at least 1 properties`)
		}
		for name, v := range m {
			s, ok := respheader.Scalar(v)
			if !ok {
				return nil, fmt.Errorf("invalid type as header value")
			}
			if name == "" {
				return nil, fmt.Errorf("invalid field length in header")
			}
			if !respheader.ValidName(name) {
				return nil, fmt.Errorf("invalid field character in header")
			}
			conf.headers = append(conf.headers, [2]string{name, string(tmpl.EscapeControl([]byte(s), 0))})
		}
		slices.SortFunc(conf.headers, func(a, b [2]string) int { return bytes.Compare([]byte(a[0]), []byte(b[0])) })
	}
	return conf, nil
}

// BodyFilter sets the headers and returns what echoes the body.
func (c *Conf) BodyFilter(r *plugin.Request) plugin.BodyFilter {
	h := &r.Ctx.Response.Header
	h.Del("Content-Encoding")
	h.Del("ETag")
	h.Del("Last-Modified")
	for _, kv := range c.headers {
		h.Set(kv[0], kv[1])
	}
	return &body{conf: c}
}

// body is one response's echo.
type body struct {
	conf    *Conf
	started bool
}

func (b *body) Filter(dst, piece []byte, eof bool) ([]byte, bool) {
	c := b.conf
	if !b.started {
		b.started = true
		dst = append(dst, c.before...)
	}
	if c.hasBody {
		dst = append(dst, c.body...)
		eof = true
	} else {
		dst = append(dst, piece...)
	}
	if eof {
		dst = append(dst, c.after...)
	}
	return dst, c.hasBody
}
