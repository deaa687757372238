// Package cors is APISIX's cors plugin (apache/apisix apisix/plugins/cors.lua).
//
// Conf: allow_origins ("*"; "**" echoes the request's Origin; "null"; or a comma-separated list
// of scheme://host[:port]), allow_methods ("*"; "**" is every method), allow_headers ("*"; "**"
// echoes Access-Control-Request-Headers), expose_headers (unset), max_age (5), allow_credential
// (false; with it no option may be "*"), allow_origins_by_regex (replaces allow_origins when set;
// the regexes are joined with "|" and searched in the Origin), timing_allow_origins and
// timing_allow_origins_by_regex (Timing-Allow-Origin, the same way), allow_origins_by_metadata
// (names of entries of the plugin_metadata's allow_origins map; an Origin one of them allows is
// echoed, tried before allow_origins, which is then used only when set to other than "*").
//
// Phases: rewrite (priority 4000): every OPTIONS request is answered 200 with an empty body
// and never reaches the upstream; header filter: every response (the upstream's, a plugin's
// 401, the proxy's 502) gets the CORS headers when the Origin is allowed, overwriting the
// upstream's, and `Vary: Origin` is added whenever allow_origins is not "*", even when no
// origin matched. A single configured origin that is not the request's gives no CORS header.
//
// Regexes are Go's (RE2), compiled once per conf; APISIX's are PCRE: a regex PCRE accepts and
// RE2 does not (look-arounds, back-references) rejects the conf with Go's error text.
package cors

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "cors"
	Priority = 4000
)

// Plugin is cors.
var Plugin plugin.Plugin = cors{}

type cors struct{}

func (cors) Name() string  { return Name }
func (cors) Priority() int { return Priority }

// allMethods is what allow_methods "**" allows.
const allMethods = "GET,POST,PUT,DELETE,PATCH,HEAD,OPTIONS,CONNECT,TRACE"

// originsPattern is APISIX's schema pattern of allow_origins and timing_allow_origins.
const originsPattern = `^(\*|\*\*|null|\w+://[^,]+(,\w+://[^,]+)*)$`

var originsRe = regexp.MustCompile(originsPattern)

// origins is a compiled allow_origins or timing_allow_origins.
type origins struct {
	set     bool
	value   string   // "*", "**", or a single origin
	list    []string // two or more origins (the value had a comma)
	byRegex *regexp.Regexp
}

// Conf is a compiled conf.
type Conf struct {
	origins, timing origins
	allowOriginsAll bool // allow_origins is "*": no Vary
	methods         string
	headers         string // "**": echo Access-Control-Request-Headers
	expose          string
	maxAge          string
	credential      bool
	byMetadata      []string // allow_origins_by_metadata

	// The fixed header values as bytes, made once at compile so that a request only copies
	// them (SetCanonical with the canonical names below skips fasthttp's key normalising).
	methodsVal, headersVal, exposeVal, maxAgeVal []byte
}

// The response header names, canonical as fasthttp writes them.
var (
	keyAllowOrigin      = []byte(fasthttp.HeaderAccessControlAllowOrigin)
	keyAllowMethods     = []byte(fasthttp.HeaderAccessControlAllowMethods)
	keyAllowHeaders     = []byte(fasthttp.HeaderAccessControlAllowHeaders)
	keyAllowCredentials = []byte(fasthttp.HeaderAccessControlAllowCredentials)
	keyExposeHeaders    = []byte(fasthttp.HeaderAccessControlExposeHeaders)
	keyMaxAge           = []byte(fasthttp.HeaderAccessControlMaxAge)
	keyTimingOrigin     = []byte("Timing-Allow-Origin")
	valTrue             = []byte("true")
	valStar             = []byte("*")
)

// Metadata is cors's compiled plugin_metadata: allow_origins, named origins lists.
type Metadata struct {
	origins map[string]*origins
}

// CompileMetadata validates cors's plugin_metadata (APISIX's metadata_schema: allow_origins, an
// object whose values match allow_origins' pattern).
func (cors) CompileMetadata(raw []byte) (any, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	m := &Metadata{origins: map[string]*origins{}}
	if !c.Has("allow_origins") {
		return m, nil
	}
	named, err := c.StringMap("allow_origins")
	if err != nil {
		return nil, err
	}
	for k, v := range named {
		if !originsRe.MatchString(v) {
			return nil, fmt.Errorf("property \"allow_origins\" validation failed: property %q validation failed: failed to match pattern %q with %q", k, originsPattern, v)
		}
		o := &origins{}
		o.init(v, true)
		m.origins[k] = o
	}
	return m, nil
}

// allowedByMetadata is process_with_allow_origins_by_metadata: originSentinel when an entry
// named in allow_origins_by_metadata allows the request's Origin, else "".
func (c *Conf) allowedByMetadata(r *plugin.Request, origin []byte) string {
	if c.byMetadata == nil || origin == nil {
		return ""
	}
	m, ok := r.Metadata.Get(Name).(*Metadata)
	if !ok {
		return ""
	}
	for _, k := range c.byMetadata {
		if o := m.origins[k]; o != nil && o.allowed(origin) != "" {
			return originSentinel
		}
	}
	return ""
}

var emptyBody = []byte{}

func (cors) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{}
	ao, err := originsField(c, "allow_origins", "*")
	if err != nil {
		return nil, err
	}
	if conf.methods, err = c.String("allow_methods", "*"); err != nil {
		return nil, err
	}
	if conf.headers, err = c.String("allow_headers", "*"); err != nil {
		return nil, err
	}
	if conf.expose, err = c.String("expose_headers", ""); err != nil {
		return nil, err
	}
	maxAge, err := c.Int("max_age", 5)
	if err != nil {
		return nil, err
	}
	conf.maxAge = strconv.Itoa(maxAge)
	if conf.credential, err = c.Bool("allow_credential", false); err != nil {
		return nil, err
	}
	aoRegex, err := regexList(c, "allow_origins_by_regex")
	if err != nil {
		return nil, err
	}
	if conf.byMetadata, err = regexList(c, "allow_origins_by_metadata"); err != nil {
		return nil, err
	}
	to, err := originsField(c, "timing_allow_origins", "")
	if err != nil {
		return nil, err
	}
	toRegex, err := regexList(c, "timing_allow_origins_by_regex")
	if err != nil {
		return nil, err
	}
	if conf.credential && (ao == "*" || conf.methods == "*" || conf.headers == "*" || conf.expose == "*" || to == "*") {
		return nil, fmt.Errorf("you can not set '*' for other option when 'allow_credential' is true")
	}
	if conf.origins.byRegex, err = compileRegexes(aoRegex); err != nil {
		return nil, err
	}
	if conf.timing.byRegex, err = compileRegexes(toRegex); err != nil {
		return nil, err
	}
	if conf.methods == "**" {
		conf.methods = allMethods
	}
	conf.allowOriginsAll = ao == "*"
	conf.methodsVal, conf.headersVal = []byte(conf.methods), []byte(conf.headers)
	conf.exposeVal, conf.maxAgeVal = []byte(conf.expose), []byte(conf.maxAge)
	conf.origins.init(ao, true)
	conf.timing.init(to, c.Has("timing_allow_origins"))
	return conf, nil
}

func originsField(c plugin.Conf, name, def string) (string, error) {
	s, err := c.String(name, def)
	if err != nil {
		return "", err
	}
	if c.Has(name) && !originsRe.MatchString(s) {
		return "", fmt.Errorf("property %q validation failed: failed to match pattern %q with %q", name, originsPattern, s)
	}
	return s, nil
}

func regexList(c plugin.Conf, name string) ([]string, error) {
	l, err := c.StringList(name, 1, true)
	if err != nil {
		return nil, err
	}
	for i, s := range l {
		if n := len([]rune(s)); n < 1 || n > 4096 {
			return nil, fmt.Errorf("property %q validation failed: failed to validate item %d: string length out of range (1 to 4096): %d", name, i+1, n)
		}
	}
	return l, nil
}

func compileRegexes(l []string) (*regexp.Regexp, error) {
	if l == nil {
		return nil, nil
	}
	for _, s := range l {
		if _, err := regexp.Compile(s); err != nil {
			return nil, err
		}
	}
	return regexp.Compile(strings.Join(l, "|"))
}

func (o *origins) init(v string, set bool) {
	o.set, o.value = set, v
	if strings.Contains(v, ",") {
		o.list = strings.Split(v, ",")
	}
}

// allowed is the origin to allow for the request's Origin (absent: nil), or "" when none:
// process_with_allow_origins(_by_regex) then match_origins.
func (o *origins) allowed(origin []byte) string {
	if o.byRegex != nil {
		if origin != nil && o.byRegex.Match(origin) {
			return originSentinel
		}
		return ""
	}
	if !o.set {
		return ""
	}
	switch {
	case o.value == "*":
		return "*"
	case o.value == "**":
		if origin == nil {
			return "*"
		}
		return originSentinel
	case o.list != nil:
		for _, e := range o.list {
			if e == string(origin) {
				return originSentinel
			}
		}
		return ""
	case o.value == string(origin):
		return originSentinel
	}
	return ""
}

// originSentinel stands for "the request's Origin", so that echoing it allocates nothing.
const originSentinel = "\x00origin"

// Rewrite answers every OPTIONS request (the preflight) itself.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	if bytes.Equal(r.Ctx.Method(), []byte(fasthttp.MethodOptions)) {
		return plugin.Reply{Status: fasthttp.StatusOK, Body: emptyBody}
	}
	return plugin.Reply{}
}

// HeaderFilter sets the CORS headers on the response.
func (c *Conf) HeaderFilter(r *plugin.Request) {
	req, resp := &r.Ctx.Request.Header, &r.Ctx.Response.Header
	origin := req.Peek(fasthttp.HeaderOrigin)
	if !c.allowOriginsAll {
		resp.Add(fasthttp.HeaderVary, "Origin")
	}
	if allow := c.allowOrigin(r, origin); allow != "" {
		setOrigin(resp, keyAllowOrigin, allow, origin)
		resp.SetCanonical(keyAllowMethods, c.methodsVal)
		resp.SetCanonical(keyMaxAge, c.maxAgeVal)
		if c.expose != "" {
			resp.SetCanonical(keyExposeHeaders, c.exposeVal)
		}
		if c.headers == "**" {
			if v := req.Peek(fasthttp.HeaderAccessControlRequestHeaders); v != nil {
				resp.SetCanonical(keyAllowHeaders, v)
			} else {
				resp.Del(fasthttp.HeaderAccessControlAllowHeaders)
			}
		} else {
			resp.SetCanonical(keyAllowHeaders, c.headersVal)
		}
		if c.credential {
			resp.SetCanonical(keyAllowCredentials, valTrue)
		}
	}
	if allow := c.timing.allowed(origin); allow != "" {
		setOrigin(resp, keyTimingOrigin, allow, origin)
	}
}

// allowOrigin is the origin the response allows ("" none), as APISIX's header_filter picks it:
// allow_origins_by_metadata first; allow_origins (or its regexes) when there is none, or when it
// did not match and allow_origins is not "*"; the metadata again when that did not match.
func (c *Conf) allowOrigin(r *plugin.Request, origin []byte) string {
	if c.byMetadata == nil {
		return c.origins.allowed(origin)
	}
	if allow := c.allowedByMetadata(r, origin); allow != "" {
		return allow
	}
	if !c.allowOriginsAll {
		return c.origins.allowed(origin)
	}
	return ""
}

func setOrigin(resp *fasthttp.ResponseHeader, name []byte, allow string, origin []byte) {
	if allow == originSentinel {
		resp.SetCanonical(name, origin)
		return
	}
	if allow == "*" {
		resp.SetCanonical(name, valStar)
		return
	}
	resp.SetBytesK(name, allow)
}
