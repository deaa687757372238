// Package basicauth is APISIX's basic-auth plugin (apache/apisix apisix/plugins/basic-auth.lua):
// a consumer is found by the username of the request's `Authorization: Basic` credentials and
// the password must match.
//
// Route conf: hide_credentials (false), anonymous_consumer, realm ("basic"). Consumer conf:
// username and password (required; the password is stored encrypted with the keyring by the
// control plane). Phase: rewrite, priority 2520. Failures answer 401 with `{"message": ...}` and
// `WWW-Authenticate: Basic realm="<realm>"`: "Missing authorization in request" without an
// Authorization header, "Invalid authorization in request" when it does not parse, "Invalid
// user authorization" for an unknown user or a wrong password. hide_credentials removes the
// Authorization header before the request goes upstream.
//
// Parsing is APISIX's: the first `basic` (any case) followed by one whitespace character, the
// rest base64-decoded as nginx's ngx.decode_base64 does (padding optional, nothing read after a
// '='), split on ':' (the second field is the password: a ':' in a password truncates it), and
// all whitespace removed from both. The password is compared in constant time; the request path
// allocates nothing.
package basicauth

import (
	"crypto/subtle"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxbase64"
)

// Name and Priority are APISIX's.
const (
	Name     = "basic-auth"
	Priority = 2520
)

// Plugin is basic-auth.
var Plugin plugin.Auth = basicAuth{}

type basicAuth struct{}

func (basicAuth) Name() string            { return Name }
func (basicAuth) Priority() int           { return Priority }
func (basicAuth) EncryptFields() []string { return []string{"password"} }

// Conf is a compiled route-side conf.
type Conf struct {
	HideCredentials bool
	Anonymous       string
	wwwAuth         string
}

// consumerConf is a consumer's compiled conf.
type consumerConf struct {
	password []byte
}

var (
	missingAuth = plugin.MessageBody("Missing authorization in request")
	invalidAuth = plugin.MessageBody("Invalid authorization in request")
	invalidUser = plugin.MessageBody("Invalid user authorization")
)

func (basicAuth) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	var conf Conf
	var realm string
	if conf.HideCredentials, conf.Anonymous, realm, err = c.AuthFields("basic"); err != nil {
		return nil, err
	}
	conf.wwwAuth = `Basic realm="` + realm + `"`
	return &conf, nil
}

func (basicAuth) CompileConsumer(raw []byte) (string, any, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return "", nil, err
	}
	if err := c.Required("username", "password"); err != nil {
		return "", nil, err
	}
	user, err := c.String("username", "")
	if err != nil {
		return "", nil, err
	}
	pass, err := c.String("password", "")
	if err != nil {
		return "", nil, err
	}
	return user, &consumerConf{password: []byte(pass)}, nil
}

// Rewrite authenticates the request.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	h := &r.Ctx.Request.Header
	cred, body := c.find(r)
	if cred == nil {
		if c.Anonymous == "" {
			r.Ctx.Response.Header.Set("WWW-Authenticate", c.wwwAuth)
			return plugin.Reply{Status: 401, Body: body}
		}
		anon := r.Consumers.Consumer(c.Anonymous)
		if anon == nil {
			return plugin.Reply{Status: 401, Body: invalidUser}
		}
		r.Attach(anon, "")
		return plugin.Reply{}
	}
	if c.HideCredentials {
		h.Del("Authorization")
	}
	r.Attach(cred.Consumer, cred.ID)
	return plugin.Reply{}
}

func (c *Conf) find(r *plugin.Request) (*plugin.Credential, []byte) {
	auth := r.Ctx.Request.Header.Peek("Authorization")
	if auth == nil {
		return nil, missingAuth
	}
	user, pass, ok := Parse(auth, &r.Scratch)
	if !ok {
		return nil, invalidAuth
	}
	cred := r.Consumers.Lookup(Name, user)
	if cred == nil {
		return nil, invalidUser
	}
	cc, _ := cred.Conf.(*consumerConf)
	if cc == nil || subtle.ConstantTimeCompare(cc.password, pass) != 1 {
		return nil, invalidUser
	}
	return cred, nil
}

// Parse extracts the username and password of an Authorization header value as APISIX does
// (see the package doc). They are slices of *buf, which it reuses.
func Parse(auth []byte, buf *[]byte) (user, pass []byte, ok bool) {
	enc := afterBasic(auth)
	if enc == nil {
		return nil, nil, false
	}
	dec, ok := ngxbase64.Decode((*buf)[:0], enc, ngxbase64.Std)
	*buf = dec
	if !ok {
		return nil, nil, false
	}
	i := indexByte(dec, ':')
	if i < 0 {
		return nil, nil, false
	}
	user, rest := dec[:i], dec[i+1:]
	if j := indexByte(rest, ':'); j >= 0 {
		rest = rest[:j]
	}
	return stripSpace(user), stripSpace(rest), true
}

// afterBasic finds the first "basic" (any case) followed by a whitespace character and at least
// one more character, and returns what follows the whitespace up to the end of the line (PCRE's
// `basic\s(.+)` without anchors); nil when there is none.
func afterBasic(s []byte) []byte {
	for i := 0; i+6 < len(s); i++ {
		if lower(s[i]) == 'b' && lower(s[i+1]) == 'a' && lower(s[i+2]) == 's' && lower(s[i+3]) == 'i' &&
			lower(s[i+4]) == 'c' && isSpace(s[i+5]) {
			rest := s[i+6:]
			if j := indexByte(rest, '\n'); j >= 0 {
				rest = rest[:j]
			}
			if len(rest) > 0 {
				return rest
			}
		}
	}
	return nil
}

// stripSpace removes every whitespace character (PCRE \s) from b, in place.
func stripSpace(b []byte) []byte {
	out := b[:0]
	for _, c := range b {
		if !isSpace(c) {
			out = append(out, c)
		}
	}
	return out
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}
