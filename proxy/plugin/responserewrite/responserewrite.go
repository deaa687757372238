// Package responserewrite is APISIX's response-rewrite plugin (apache/apisix
// apisix/plugins/response-rewrite.lua): the response the client gets is rewritten, the
// upstream's as well as one the proxy or a plugin made (a 401, a 502).
//
// Conf: status_code (200-598), body (replaces the body; base64 with body_base64), headers ({add:
// ["Name: value"], set: {name: value}, remove: [name]}, or a flat map, all set; values are
// strings or numbers with $vars; applied add, then set, then remove), vars (a vars expression
// gating the whole plugin per request), filters ([{regex, replace, scope once|global, options}]:
// regex substitutions over the body; excludes body), max_resp_body_size (64 MiB: what filters
// hold of a body).
//
// Phases: header and body filter, priority 899. A body or filters drop the upstream's
// Content-Length (the proxy sends the new one, or chunks), Content-Encoding, ETag and
// Last-Modified. body replaces the whole body: the upstream's is not read further. filters hold
// the body up to max_resp_body_size, as APISIX's core.response.hold_body_chunk does: a longer
// body is cut to that size, filtered, and the rest of it dropped (never held), so memory stays
// bounded whatever the upstream sends. A gzip body (Content-Encoding: gzip) is decompressed
// before the filters (its decompressed size capped the same way); a body in an encoding zoneproxy
// cannot decode is left as it is, Content-Encoding kept (APISIX logs and drops the header).
//
// Regexes are Go's (RE2), compiled once per conf; APISIX's are PCRE: a regex RE2 does not accept
// (look-arounds, back-references) rejects the conf. Options: i, m, s and a (anchored) apply;
// j, o, d, u, U, J and D (PCRE tuning) are accepted and change nothing; x is rejected. A header
// `add` entry must be "Name: value" where the value has no ":" (APISIX's pattern): one its
// runtime cannot split rejects the conf here, where APISIX would log and skip every header.
// vars may test the response's variables besides the request's, as APISIX evaluates them once
// the upstream answered: status, upstream_status, sent_http_<name> and upstream_http_<name>
// (expr.CompileResponse, plugin.Request.EvalResponse; the upstream_ ones are nil on an answer
// the proxy or a plugin made).
package responserewrite

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxbase64"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/respheader"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/tmpl"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Name and Priority are APISIX's.
const (
	Name     = "response-rewrite"
	Priority = 899
)

// DefaultMaxBody is max_resp_body_size's default.
const DefaultMaxBody = 64 << 20

// Plugin is response-rewrite.
var Plugin plugin.Plugin = responseRewrite{}

type responseRewrite struct{}

func (responseRewrite) Name() string  { return Name }
func (responseRewrite) Priority() int { return Priority }

type header struct {
	name  string
	value *tmpl.Template
}

type filter struct {
	re     *regexp.Regexp
	global bool
	sub    tmpl.Sub
}

// Conf is a compiled conf.
type Conf struct {
	status   int
	body     *staticBody // nil: the body is not replaced
	add, set []header
	remove   []string
	vars     *expr.Expr
	filters  []filter
	maxBody  int
}

func (responseRewrite) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{}
	if conf.maxBody, err = c.Int("max_resp_body_size", DefaultMaxBody); err != nil {
		return nil, err
	}
	if conf.maxBody < 1 {
		return nil, fmt.Errorf(`property "max_resp_body_size" validation failed: expected %d to be at least 1`, conf.maxBody)
	}
	if c.Has("status_code") {
		if conf.status, err = c.Int("status_code", 0); err != nil {
			return nil, err
		}
		if conf.status < 200 {
			return nil, fmt.Errorf(`property "status_code" validation failed: expected %d to be at least 200`, conf.status)
		}
		if conf.status > 598 {
			return nil, fmt.Errorf(`property "status_code" validation failed: expected %d to be at most 598`, conf.status)
		}
	}
	body, err := c.String("body", "")
	if err != nil {
		return nil, err
	}
	b64, err := c.Bool("body_base64", false)
	if err != nil {
		return nil, err
	}
	if c.Has("body") && c.Has("filters") {
		// APISIX's dependencies: body requires not filters, and the other way round.
		return nil, fmt.Errorf(`failed to validate dependent schema for "body": value should not match the "not" schema`)
	}
	if v, ok := c.Raw("vars"); ok {
		if !bytes.HasPrefix(bytes.TrimSpace(v), []byte("[")) {
			return nil, fmt.Errorf(`property "vars" validation failed: wrong type: expected array, got %s`, plugin.JSONType(v))
		}
		if conf.vars, err = expr.CompileResponse(v); err != nil {
			return nil, fmt.Errorf("failed to validate the 'vars' expression: %v", err)
		}
	}
	if h, ok := c.Raw("headers"); ok {
		if err := conf.compileHeaders(h); err != nil {
			return nil, err
		}
	}
	if b64 {
		if body == "" {
			return nil, fmt.Errorf("invalid base64 content")
		}
		dec, ok := ngxbase64.Decode(nil, []byte(body), ngxbase64.Std)
		if !ok {
			return nil, fmt.Errorf("invalid base64 content")
		}
		body = string(dec)
	}
	if c.Has("body") {
		conf.body = &staticBody{body: body}
	}
	fs, err := c.Objects("filters")
	if err != nil {
		return nil, err
	}
	if c.Has("filters") && len(fs) == 0 {
		return nil, fmt.Errorf(`property "filters" validation failed: expect array to have at least 1 items`)
	}
	for i, fc := range fs {
		f, err := compileFilter(fc)
		if err != nil {
			return nil, fmt.Errorf(`property "filters" validation failed: failed to validate item %d: %w`, i+1, err)
		}
		conf.filters = append(conf.filters, f)
	}
	return conf, nil
}

func compileFilter(fc plugin.Conf) (filter, error) {
	if err := fc.Required("regex", "replace"); err != nil {
		return filter{}, err
	}
	re, err := fc.StringLen("regex", "", 1, -1)
	if err != nil {
		return filter{}, err
	}
	repl, err := fc.String("replace", "")
	if err != nil {
		return filter{}, err
	}
	scope, err := fc.String("scope", "once")
	if err != nil {
		return filter{}, err
	}
	if err := plugin.Enum("scope", scope, "once", "global"); err != nil {
		return filter{}, err
	}
	opts, err := fc.String("options", "jo")
	if err != nil {
		return filter{}, err
	}
	f := filter{global: scope == "global"}
	if f.re, err = compileRegex(re, opts); err != nil {
		return filter{}, fmt.Errorf("regex %q validation failed: %v", re, err)
	}
	if f.sub, err = tmpl.CompileSub(repl); err != nil {
		return filter{}, fmt.Errorf("replace %q: %v", repl, err)
	}
	return f, nil
}

// compileRegex compiles a PCRE-flavoured regex with ngx.re options.
func compileRegex(re, opts string) (*regexp.Regexp, error) {
	flags := ""
	anchored := false
	for _, o := range opts {
		switch o {
		case 'i', 'm', 's':
			if !strings.ContainsRune(flags, o) {
				flags += string(o)
			}
		case 'a':
			anchored = true
		case 'j', 'o', 'd', 'u', 'U', 'J', 'D':
		case 'x':
			return nil, fmt.Errorf("option \"x\" is not supported by zoneproxy")
		default:
			return nil, fmt.Errorf("unknown flag %q", o)
		}
	}
	if anchored {
		re = `\A(?:` + re + `)`
	}
	if flags != "" {
		re = "(?" + flags + ")" + re
	}
	return regexp.Compile(re)
}

func (conf *Conf) compileHeaders(raw json.RawMessage) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return fmt.Errorf(`property "headers" validation failed: %w`, plugin.ErrAnyOf)
	}
	isKind := func(k string, open byte) bool {
		v, ok := m[k]
		v = bytes.TrimSpace(v)
		return ok && len(v) > 0 && v[0] == open
	}
	if !isKind("add", '[') && !isKind("set", '{') && !isKind("remove", '[') {
		// The flat form: every field is set (check_set_headers).
		if len(m) == 0 {
			return fmt.Errorf(`property "headers" validation failed: %w`, plugin.ErrAnyOf)
		}
		hs, err := compileSet(m)
		if err != nil {
			return err
		}
		conf.set = hs
		return nil
	}
	hc, _ := plugin.ParseConf(raw)
	adds, err := hc.StringList("add", 1, false)
	if err != nil {
		return fmt.Errorf(`property "headers" validation failed: %w`, err)
	}
	for _, a := range adds {
		name, value, ok := splitAdd(a)
		if !ok {
			return fmt.Errorf(`property "headers" validation failed: property "add" validation failed: failed to match pattern "^[^:]+:[^:]*[^/]$" with %q`, a)
		}
		t, err := tmpl.Compile(value, tmpl.Vars)
		if err != nil {
			return fmt.Errorf(`property "headers" validation failed: %w`, err)
		}
		conf.add = append(conf.add, header{name: name, value: t})
	}
	if v, ok := m["set"]; ok {
		var sub map[string]json.RawMessage
		if json.Unmarshal(v, &sub) != nil || sub == nil {
			return fmt.Errorf(`property "headers" validation failed: property "set" validation failed: wrong type: expected object, got %s`, plugin.JSONType(v))
		}
		if len(sub) == 0 {
			return fmt.Errorf(`property "headers" validation failed: property "set" validation failed: expect object to have at least 1 properties`)
		}
		if conf.set, err = compileSet(sub); err != nil {
			return err
		}
	}
	if conf.remove, err = hc.StringList("remove", 1, false); err != nil {
		return fmt.Errorf(`property "headers" validation failed: %w`, err)
	}
	for _, n := range conf.remove {
		if !respheader.ValidName(n) {
			return fmt.Errorf(`property "headers" validation failed: property "remove" validation failed: failed to match pattern "^[^:]+$" with %q`, n)
		}
	}
	return nil
}

// splitAdd splits an add entry as APISIX does: "^([^:\s]+)\s*:\s*([^:]+)$", after the schema's
// "^[^:]+:[^:]*[^/]$".
func splitAdd(s string) (name, value string, ok bool) {
	i := strings.IndexByte(s, ':')
	if i <= 0 || strings.Count(s, ":") != 1 || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ":") {
		return "", "", false
	}
	name = strings.TrimRight(s[:i], " \t\r\n\f\v")
	value = strings.TrimLeft(s[i+1:], " \t\r\n\f\v")
	if !respheader.ValidName(name) || value == "" {
		return "", "", false
	}
	return name, value, true
}

func compileSet(m map[string]json.RawMessage) ([]header, error) {
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
		if !respheader.ValidName(name) {
			return nil, fmt.Errorf(`property "headers" validation failed: invalid header name %q`, name)
		}
		s, ok := respheader.Scalar(m[name])
		if !ok {
			return nil, fmt.Errorf("invalid type as header value")
		}
		t, err := tmpl.Compile(s, tmpl.Vars)
		if err != nil {
			return nil, fmt.Errorf(`property "headers" validation failed: %w`, err)
		}
		out = append(out, header{name: name, value: t})
	}
	return out, nil
}

// BodyFilter rewrites the response head and returns what rewrites its body.
func (conf *Conf) BodyFilter(r *plugin.Request) plugin.BodyFilter {
	if conf.vars != nil && !r.EvalResponse(conf.vars) {
		return nil
	}
	resp := &r.Ctx.Response
	h := &resp.Header
	if conf.status != 0 {
		resp.SetStatusCode(conf.status)
	}
	gz := false
	keepBody := false
	if conf.filters != nil || conf.body != nil {
		if enc := h.Peek("Content-Encoding"); len(enc) > 0 {
			switch {
			case conf.body == nil && bytes.EqualFold(enc, []byte("gzip")):
				gz = true
			case conf.body == nil:
				keepBody = true // an encoding the filters cannot read
			}
		}
		if !keepBody {
			h.Del("Content-Encoding")
		}
		h.Del("ETag")
		h.Del("Last-Modified")
	}
	if len(conf.add)+len(conf.set)+len(conf.remove) > 0 {
		sc := r.Scratch[:0]
		for _, hd := range conf.add {
			sc = hd.value.AppendHeaderValue(sc[:0], r)
			h.AddBytesV(hd.name, sc)
		}
		for _, hd := range conf.set {
			sc = hd.value.AppendHeaderValue(sc[:0], r)
			h.SetBytesV(hd.name, sc)
		}
		for _, n := range conf.remove {
			h.Del(n)
		}
		r.Scratch = sc[:0]
	}
	switch {
	case keepBody:
		return nil
	case conf.body != nil:
		return conf.body
	case conf.filters != nil:
		return &heldBody{conf: conf, gzip: gz}
	}
	return nil
}

// staticBody is a body replaced whole. It keeps no state: one serves every response.
type staticBody struct{ body string }

func (s *staticBody) Filter(dst, _ []byte, _ bool) ([]byte, bool) {
	return append(dst, s.body...), true
}

// heldBody holds a body, up to max_resp_body_size, and filters it at its end (or at the cap).
type heldBody struct {
	conf *Conf
	gzip bool
	buf  []byte
}

func (b *heldBody) Filter(dst, piece []byte, eof bool) ([]byte, bool) {
	max := b.conf.maxBody
	if room := max - len(b.buf); len(piece) > room {
		piece, eof = piece[:room], true
	}
	b.buf = append(b.buf, piece...)
	if len(b.buf) >= max {
		eof = true
	}
	if !eof {
		return dst, false
	}
	body := b.buf
	if b.gzip {
		dec, err := gunzip(body, max)
		if err == nil {
			body = dec
		}
	}
	for _, f := range b.conf.filters {
		body = f.apply(body)
	}
	b.buf = nil
	return append(dst, body...), true
}

// gunzip decompresses a gzip body, up to max bytes of it.
func gunzip(body []byte, max int) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(max)))
	if err != nil && len(out) == 0 {
		return nil, err
	}
	return out, nil
}

// apply is ngx.re.sub (once) or ngx.re.gsub (global) of the filter over body.
func (f *filter) apply(body []byte) []byte {
	if !f.global {
		loc := f.re.FindSubmatchIndex(body)
		if loc == nil {
			return body
		}
		out := make([]byte, 0, len(body))
		out = append(out, body[:loc[0]]...)
		out = f.sub.Expand(out, body, loc)
		return append(out, body[loc[1]:]...)
	}
	all := f.re.FindAllSubmatchIndex(body, -1)
	if all == nil {
		return body
	}
	out := make([]byte, 0, len(body))
	last := 0
	for _, loc := range all {
		out = append(out, body[last:loc[0]]...)
		out = f.sub.Expand(out, body, loc)
		last = loc[1]
	}
	return append(out, body[last:]...)
}
