// Package redirect is APISIX's redirect plugin (apache/apisix apisix/plugins/redirect.lua): the
// request is answered with a redirect, its Location built from the conf.
//
// Conf: uri (a template of redirect.lua's grammar: $name and ${name} are variables, \$name
// stays as written), regex_uri ([regex, template]: the first match in $uri replaced as
// ngx.re.sub does, $0..$99; no match lets the request go on), http_to_https (a plain-HTTP
// request, X-Forwarded-Proto first as APISIX reads the scheme, goes to
// https://$host$request_uri with 301 for GET and HEAD, 308 for other methods; an HTTPS request
// goes on), ret_code (default 302, at least 200), encode_uri (the part before a "?" encoded as
// nginx's ngx_escape_uri does), append_query_string (the client's query string appended, "&"
// when the Location has a "?"). Exactly one of uri, regex_uri and http_to_https; http_to_https
// and append_query_string exclude each other. The https Location carries a port as APISIX's
// get_port gives it (New: plugin_attr.redirect.https_port, else a port of apisix.ssl.listen
// picked at random per request; none, 443 or one outside 1-65535: no port). Phase: rewrite,
// priority 900.
//
// The answer is the status with nginx's page for it and the Location header; control
// characters (CR, LF, ...) a variable brings into the Location are percent-encoded, so a
// hostile value cannot split the response head.
//
// Templates and the regex (RE2; APISIX's is PCRE) are compiled once per conf. Rendering uses
// the Request's Scratch buffer; only a regex_uri match allocates (its submatch indexes).
package redirect

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxescape"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/tmpl"
)

// Name and Priority are APISIX's.
const (
	Name     = "redirect"
	Priority = 900
)

// Plugin is redirect.
var Plugin plugin.Plugin = New(nil)

// New returns redirect whose http_to_https Location carries one of httpsPorts, picked at random
// per request (config.Config.HTTPSPorts); 443 and ports outside 1-65535 are left out of the
// Location, as APISIX does.
func New(httpsPorts []int) plugin.Plugin {
	rd := redirect{}
	for _, p := range httpsPorts {
		rd.toHTTPS = append(rd.toHTTPS, toHTTPS(p))
	}
	if len(rd.toHTTPS) == 0 {
		rd.toHTTPS = []*tmpl.Template{toHTTPS(0)}
	}
	return rd
}

type redirect struct {
	toHTTPS []*tmpl.Template // http_to_https's Locations, one per port
}

func (redirect) Name() string  { return Name }
func (redirect) Priority() int { return Priority }

// toHTTPS is http_to_https's Location with port (none for 0, 443 or one out of range).
func toHTTPS(port int) *tmpl.Template {
	loc := "https://$host$request_uri"
	if port > 0 && port <= 65535 && port != 443 {
		loc = "https://$host:" + strconv.Itoa(port) + "$request_uri"
	}
	t, err := tmpl.Compile(loc, tmpl.Redirect)
	if err != nil {
		panic(err)
	}
	return t
}

// Conf is a compiled conf.
type Conf struct {
	toHTTPS     []*tmpl.Template
	code        int
	uri         *tmpl.Template
	re          *regexp.Regexp
	sub         tmpl.Sub
	httpToHTTPS bool
	encode      bool
	appendQuery bool
}

func (rd redirect) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{toHTTPS: rd.toHTTPS}
	if conf.code, err = c.Int("ret_code", 302); err != nil {
		return nil, err
	}
	if conf.code < 200 {
		return nil, fmt.Errorf("property \"ret_code\" validation failed: expected %d to be at least 200", conf.code)
	}
	uri, err := c.StringLen("uri", "", 2, -1)
	if err != nil {
		return nil, err
	}
	re, err := c.StringList("regex_uri", 2, false)
	if err != nil {
		return nil, err
	}
	if len(re) > 2 {
		return nil, fmt.Errorf("property \"regex_uri\" validation failed: expect array to have at most 2 items")
	}
	if conf.httpToHTTPS, err = c.Bool("http_to_https", false); err != nil {
		return nil, err
	}
	if conf.encode, err = c.Bool("encode_uri", false); err != nil {
		return nil, err
	}
	if conf.appendQuery, err = c.Bool("append_query_string", false); err != nil {
		return nil, err
	}
	// oneOf {required uri}, {required regex_uri}, {required http_to_https}.
	var matched []int
	for i, n := range []string{"uri", "regex_uri", "http_to_https"} {
		if c.Has(n) {
			matched = append(matched, i+1)
		}
	}
	switch {
	case len(matched) == 0:
		return nil, fmt.Errorf("value should match only one schema, but matches none")
	case len(matched) > 1:
		return nil, fmt.Errorf("value should match only one schema, but matches both schemas %d and %d", matched[0], matched[1])
	}
	if c.Has("uri") {
		if conf.uri, err = tmpl.Compile(uri, tmpl.Redirect); err != nil {
			return nil, fmt.Errorf("property \"uri\" validation failed: %w", err)
		}
	}
	if len(re) == 2 {
		x, err := regexp.Compile(re[0])
		if err == nil {
			conf.re = x
			conf.sub, err = tmpl.CompileSub(re[1])
		}
		if err != nil {
			return nil, fmt.Errorf("invalid regex_uri (%s, %s), err:%v", re[0], re[1], err)
		}
	}
	if conf.httpToHTTPS && conf.appendQuery {
		return nil, fmt.Errorf("only one of `http_to_https` and `append_query_string` can be configured.")
	}
	return conf, nil
}

// Rewrite answers with the redirect, or lets the request go on.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	ctx := r.Ctx
	code, t := c.code, c.uri
	if c.httpToHTTPS && !isHTTPS(r) {
		t = c.toHTTPS[0]
		if n := len(c.toHTTPS); n > 1 {
			t = c.toHTTPS[rand.IntN(n)]
		}
		if m := ctx.Method(); string(m) == "GET" || string(m) == "HEAD" {
			code = 301
		} else {
			code = 308
		}
	}
	sc := r.Scratch[:0]
	switch {
	case t != nil:
		sc = t.Append(sc, r, nil, nil, nil)
	case c.re != nil:
		path := ctx.Path()
		loc := c.re.FindSubmatchIndex(path)
		if loc == nil {
			return plugin.Reply{}
		}
		sc = append(sc, path[:loc[0]]...)
		sc = c.sub.Expand(sc, path, loc)
		sc = append(sc, path[loc[1]:]...)
	default:
		return plugin.Reply{}
	}
	end := len(sc)
	q := bytes.IndexByte(sc, '?')
	switch {
	case c.encode && q >= 0:
		sc = ngxescape.URI.Append(sc, sc[:q])
		sc = ngxescape.Control.Append(sc, sc[q:end])
	case c.encode:
		sc = ngxescape.URI.Append(sc, sc[:end])
	default:
		sc = ngxescape.Control.Append(sc, sc[:end])
	}
	if c.appendQuery {
		raw := ctx.Request.Header.RequestURI()
		if i := bytes.IndexByte(raw, '?'); i >= 0 {
			if q >= 0 {
				sc = append(sc, '&')
			} else {
				sc = append(sc, '?')
			}
			sc = ngxescape.Control.Append(sc, raw[i+1:])
		}
	}
	r.SetResponseHeader("Location", sc[end:])
	r.Scratch = sc[:0]
	return plugin.Reply{Status: code}
}

// isHTTPS is APISIX's scheme for redirect: X-Forwarded-Proto when the request has it, else the
// connection's.
func isHTTPS(r *plugin.Request) bool {
	if p := r.Ctx.Request.Header.Peek("X-Forwarded-Proto"); p != nil {
		return string(p) != "http"
	}
	return r.Ctx.IsTLS()
}
