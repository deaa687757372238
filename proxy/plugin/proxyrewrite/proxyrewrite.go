// Package proxyrewrite is APISIX's proxy-rewrite plugin (apache/apisix
// apisix/plugins/proxy-rewrite.lua): the request the upstream gets is rewritten.
//
// Conf: uri (starts with "/", $vars; a "?" a variable inserts is escaped), regex_uri ([regex,
// template, ...]: the first regex that matches $uri has its first match replaced, the template
// taking $0, $1, ${1}, $$; no match leaves the URI; uri wins), method (APISIX's enum), host
// (the upstream's Host; pass_host node or rewrite of the upstream still wins, as in APISIX),
// headers ({add, set, remove} or a flat map of set; values are strings, numbers or (add, set)
// arrays, with $vars, ${var ?? default} and the regex_uri captures $1; applied add, then set,
// then remove), use_real_request_uri_unsafe (the client's raw URI, not normalised or encoded).
// Phase: rewrite, priority 1008.
//
// The new URI is encoded as nginx's ngx_escape_uri does (the part after a "?" of the template
// only has control characters escaped), and the client's query string is appended ("&" when
// the new URI has a "?"). As in APISIX, the URI is set even when only headers are rewritten:
// the upstream gets the normalised, encoded $uri. Control characters (CR, LF, NUL, ...) that a
// variable brings into a header value or into an unsafe URI are percent-encoded, so a hostile
// value cannot split the upstream request.
//
// Templates and regexes (RE2; APISIX's are PCRE) are compiled once per conf. Rendering uses
// the Request's Scratch buffer; only a regex_uri match allocates (its submatch indexes).
package proxyrewrite

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxescape"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/tmpl"
)

// Name and Priority are APISIX's.
const (
	Name     = "proxy-rewrite"
	Priority = 1008
)

// Plugin is proxy-rewrite.
var Plugin plugin.Plugin = proxyRewrite{}

type proxyRewrite struct{}

func (proxyRewrite) Name() string  { return Name }
func (proxyRewrite) Priority() int { return Priority }

// methods is APISIX's method enum (switch_map).
var methods = []string{"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "MKCOL", "COPY", "MOVE", "PROPFIND", "LOCK", "UNLOCK", "PATCH", "TRACE"}

var (
	uriPattern  = regexp.MustCompile(`^\/.*`)
	hostPattern = regexp.MustCompile(`^[0-9a-zA-Z-.]+(:\d{1,5})?$`)
)

type regexURI struct {
	re  *regexp.Regexp
	tpl tmpl.Sub
}

type header struct {
	name   string
	key    []byte // name as fasthttp normalises it, made once: set without normalising again
	values []*tmpl.Template
}

// Conf is a compiled conf.
type Conf struct {
	uri      *tmpl.Template
	regex    []regexURI
	method   string
	host     string
	add, set []header
	remove   []string
	unsafe   bool
}

func (proxyRewrite) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.MinProperties(1); err != nil {
		return nil, err
	}
	conf := &Conf{}
	if c.Has("uri") {
		uri, err := c.StringLen("uri", "", 1, 4096)
		if err != nil {
			return nil, err
		}
		if !uriPattern.MatchString(uri) {
			return nil, fmt.Errorf(`property "uri" validation failed: failed to match pattern "^\\/.*" with %q`, uri)
		}
		if conf.uri, err = tmpl.Compile(uri, tmpl.Vars); err != nil {
			return nil, fmt.Errorf(`property "uri" validation failed: %w`, err)
		}
	}
	if conf.method, err = c.String("method", ""); err != nil {
		return nil, err
	}
	if c.Has("method") {
		if err := plugin.Enum("method", conf.method, methods...); err != nil {
			return nil, err
		}
	}
	re, err := c.StringList("regex_uri", 2, false)
	if err != nil {
		return nil, err
	}
	if len(re)%2 != 0 {
		return nil, fmt.Errorf("The length of regex_uri should be an even number")
	}
	for i := 0; i < len(re); i += 2 {
		x, err := regexp.Compile(re[i])
		if err == nil {
			var tpl tmpl.Sub
			tpl, err = tmpl.CompileSub(re[i+1])
			conf.regex = append(conf.regex, regexURI{re: x, tpl: tpl})
		}
		if err != nil {
			return nil, fmt.Errorf("invalid regex_uri(%s, %s): %v", re[i], re[i+1], err)
		}
	}
	if conf.host, err = c.String("host", ""); err != nil {
		return nil, err
	}
	if c.Has("host") && !hostPattern.MatchString(conf.host) {
		return nil, fmt.Errorf(`property "host" validation failed: failed to match pattern "^[0-9a-zA-Z-.]+(:\\d{1,5})?$" with %q`, conf.host)
	}
	if conf.unsafe, err = c.Bool("use_real_request_uri_unsafe", false); err != nil {
		return nil, err
	}
	if h, ok := c.Raw("headers"); ok {
		if err := conf.compileHeaders(h); err != nil {
			return nil, err
		}
	}
	return conf, nil
}

func (conf *Conf) compileHeaders(raw json.RawMessage) error {
	hc, err := plugin.ParseConf(raw)
	if err != nil {
		return fmt.Errorf(`property "headers" validation failed: %w`, err)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal(raw, &m)
	if len(m) == 0 {
		return fmt.Errorf(`property "headers" validation failed: expect object to have at least 1 properties`)
	}
	isObj := func(k string) bool { v, ok := m[k]; return ok && bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) }
	isArr := func(k string) bool { v, ok := m[k]; return ok && bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) }
	if !isObj("add") && !isObj("set") && !isArr("remove") {
		// The flat form: every field is set; values are strings or numbers, checked as
		// check_set_headers does.
		if conf.set, err = compileOp(m, false, conf); err != nil {
			return err
		}
		return nil
	}
	for k := range m {
		if k != "add" && k != "set" && k != "remove" {
			return fmt.Errorf(`property "headers" validation failed: additional properties forbidden, found %s`, k)
		}
	}
	for _, op := range []string{"add", "set"} {
		if !hc.Has(op) {
			continue
		}
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(m[op], &sub); err != nil {
			return fmt.Errorf(`property "headers" validation failed: property %q validation failed: wrong type: expected object`, op)
		}
		if len(sub) == 0 {
			return fmt.Errorf(`property "headers" validation failed: property %q validation failed: expect object to have at least 1 properties`, op)
		}
		hs, err := compileOp(sub, true, conf)
		if err != nil {
			return err
		}
		if op == "add" {
			conf.add = hs
		} else {
			conf.set = hs
		}
	}
	if conf.remove, err = hc.StringList("remove", 1, false); err != nil {
		return fmt.Errorf(`property "headers" validation failed: %w`, err)
	}
	for _, n := range conf.remove {
		if !validField(n) {
			return fmt.Errorf("invalid field character in header")
		}
	}
	return nil
}

func compileOp(m map[string]json.RawMessage, arrays bool, conf *Conf) ([]header, error) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]header, 0, len(names))
	for _, name := range names {
		if name == "" {
			return nil, fmt.Errorf("invalid field length in header")
		}
		if !validField(name) {
			return nil, fmt.Errorf("invalid field character in header")
		}
		var vals []string
		v := bytes.TrimSpace(m[name])
		switch {
		case arrays && len(v) > 0 && v[0] == '[':
			var items []json.RawMessage
			_ = json.Unmarshal(v, &items)
			if len(items) == 0 {
				return nil, fmt.Errorf("property %q validation failed: expect array to have at least 1 items", name)
			}
			for _, it := range items {
				s, ok := scalar(it)
				if !ok {
					return nil, fmt.Errorf("property %q validation failed: value should match only one schema, but matches none", name)
				}
				vals = append(vals, s)
			}
		default:
			s, ok := scalar(v)
			if !ok {
				if !arrays {
					return nil, fmt.Errorf("invalid type as header value")
				}
				return nil, fmt.Errorf("property %q validation failed: value should match only one schema, but matches none", name)
			}
			if !arrays && !validValue(s) {
				return nil, fmt.Errorf("invalid value character in header")
			}
			vals = []string{s}
		}
		h := header{name: name, key: fasthttp.AppendNormalizedHeaderKey(nil, name)}
		for _, s := range vals {
			t, err := tmpl.Compile(s, tmpl.VarsCaptures)
			if err != nil {
				return nil, err
			}
			h.values = append(h.values, t)
		}
		out = append(out, h)
	}
	return out, nil
}

// scalar is a JSON string's value or a number's text (Lua's tostring of it).
func scalar(v json.RawMessage) (string, bool) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "", false
	}
	switch {
	case v[0] == '"':
		var s string
		err := json.Unmarshal(v, &s)
		return s, err == nil
	case v[0] == '-' || ('0' <= v[0] && v[0] <= '9'):
		return string(v), true
	}
	return "", false
}

// validField is core.utils.validate_header_field: '!' to '~' but ':'.
func validField(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= 32 || b >= 127 || b == ':' {
			return false
		}
	}
	return s != ""
}

// validValue is core.utils.validate_header_value: no control character.
func validValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 32 || b >= 127 {
			return false
		}
	}
	return true
}

// Rewrite rewrites the request for the upstream.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	ctx := r.Ctx
	sc := r.Scratch[:0]
	var subject []byte
	var caps []int
	rawURI := ctx.Request.Header.RequestURI()
	var args []byte
	hasArgs := false
	if i := bytes.IndexByte(rawURI, '?'); i >= 0 {
		hasArgs, args = true, rawURI[i+1:]
	}
	if c.unsafe {
		sc = append(sc, rawURI...)
		subject = sc
		start := len(sc)
		switch {
		case c.uri != nil:
			sc = c.uri.Append(sc, r, nil, nil, escapeSeparator)
			if hasArgs {
				if bytes.IndexByte(sc[start:], '?') >= 0 {
					sc = append(sc, '&')
				} else {
					sc = append(sc, '?')
				}
				sc = append(sc, args...)
			}
		case c.regex != nil:
			sc, caps = c.substitute(sc, subject)
		default:
			sc = append(sc, subject...)
		}
		end := len(sc)
		sc = ngxescape.UnsafeURI.Append(sc, sc[start:end])
		ctx.Request.SetRequestURIBytes(sc[end:])
	} else {
		sc = append(sc, ctx.Path()...)
		subject = sc
		start := len(sc)
		sepEscaped := false
		switch {
		case c.uri != nil:
			sepEscaped = true
			sc = c.uri.Append(sc, r, nil, nil, escapeSeparator)
		case c.regex != nil:
			sepEscaped = bytes.IndexByte(subject, '?') < 0
			sc, caps = c.substitute(sc, subject)
		default:
			sc = append(sc, subject...)
		}
		end := len(sc)
		q := -1
		if sepEscaped {
			q = bytes.IndexByte(sc[start:end], '?')
		}
		if q >= 0 {
			sc = ngxescape.URI.Append(sc, sc[start:start+q])
			sc = ngxescape.Control.Append(sc, sc[start+q:end])
		} else {
			sc = ngxescape.URI.Append(sc, sc[start:end])
		}
		if hasArgs {
			if q >= 0 {
				sc = append(sc, '&')
			} else {
				sc = append(sc, '?')
			}
			sc = append(sc, args...)
		}
		ctx.Request.SetRequestURIBytes(sc[end:])
	}
	h := &ctx.Request.Header
	if c.host != "" {
		h.SetHost(c.host)
	}
	for _, hd := range c.add {
		for _, t := range hd.values {
			var v []byte
			sc, v = c.render(sc, t, r, subject, caps)
			h.AddBytesV(hd.name, v)
		}
	}
	for _, hd := range c.set {
		for i, t := range hd.values {
			var v []byte
			sc, v = c.render(sc, t, r, subject, caps)
			if i == 0 {
				// Every field of the name goes first, as ngx.req.set_header does: SetCanonical
				// alone replaces only the first, and a client's second one would stay.
				h.DelBytes(hd.key)
				h.SetCanonical(hd.key, v)
			} else {
				h.AddBytesV(hd.name, v)
			}
		}
	}
	for _, n := range c.remove {
		h.Del(n)
	}
	if c.method != "" {
		h.SetMethod(c.method)
	}
	r.Scratch = sc[:0]
	return plugin.Reply{}
}

// render appends t's value to sc, control characters escaped, and returns it.
func (c *Conf) render(sc []byte, t *tmpl.Template, r *plugin.Request, subject []byte, caps []int) ([]byte, []byte) {
	start := len(sc)
	sc = tmpl.EscapeControl(t.Append(sc, r, subject, caps, nil), start)
	return sc, sc[start:]
}

// substitute applies the first regex_uri pair whose regex matches subject, appending the new
// URI to sc: the first match replaced (ngx.re.sub); subject itself when none matches.
func (c *Conf) substitute(sc, subject []byte) ([]byte, []int) {
	for _, p := range c.regex {
		loc := p.re.FindSubmatchIndex(subject)
		if loc == nil {
			continue
		}
		sc = append(sc, subject[:loc[0]]...)
		sc = p.tpl.Expand(sc, subject, loc)
		sc = append(sc, subject[loc[1]:]...)
		return sc, loc
	}
	return append(sc, subject...), nil
}

// escapeSeparator is proxy-rewrite's escape_separator: a "?" a variable brings into the uri is
// %3F.
func escapeSeparator(dst []byte, from int) []byte {
	if bytes.IndexByte(dst[from:], '?') < 0 {
		return dst
	}
	n := len(dst)
	for i := from; i < n; i++ {
		if dst[i] == '?' {
			dst = append(dst, "%3F"...)
		} else {
			dst = append(dst, dst[i])
		}
	}
	return append(dst[:from], dst[n:]...)
}
