// Package keyauth is APISIX's key-auth plugin (apache/apisix apisix/plugins/key-auth.lua): a
// consumer is found by the key the client sends in a header or, when the header is absent, a
// query argument.
//
// Route conf: header ("apikey"), query ("apikey"), hide_credentials (false), anonymous_consumer,
// realm ("key"). Consumer conf: key (required; stored encrypted with the keyring by the control
// plane). Phase: rewrite, priority 2500. Failures answer 401 with `{"message": ...}` and
// `WWW-Authenticate: apikey realm="<realm>"`: "Missing API key in request" when no key came,
// "Invalid API key in request" when it matches no consumer; with anonymous_consumer set the
// request goes on as that consumer instead ("Invalid user authorization" when it does not exist).
// hide_credentials removes the source that was used (the header, or the query argument).
//
// The key is looked up in the snapshot's index (a map: its cost does not depend on the secret,
// and the comparison is the map's); the request path allocates nothing.
package keyauth

import (
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "key-auth"
	Priority = 2500
)

// Plugin is key-auth.
var Plugin plugin.Auth = keyAuth{}

type keyAuth struct{}

func (keyAuth) Name() string            { return Name }
func (keyAuth) Priority() int           { return Priority }
func (keyAuth) EncryptFields() []string { return []string{"key"} }

// Conf is a compiled route-side conf.
type Conf struct {
	Header, Query   string
	HideCredentials bool
	Anonymous       string
	wwwAuth         string
	// headerKey is Header as fasthttp normalises it, made once: looking the key up needs no
	// copy and normalising of the name on every request (about 200 instructions).
	headerKey []byte
}

var (
	missingKey = plugin.MessageBody("Missing API key in request")
	invalidKey = plugin.MessageBody("Invalid API key in request")
	invalidUsr = plugin.MessageBody("Invalid user authorization")
)

func (keyAuth) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	var conf Conf
	if conf.Header, err = c.String("header", "apikey"); err != nil {
		return nil, err
	}
	conf.headerKey = fasthttp.AppendNormalizedHeaderKey(nil, conf.Header)
	if conf.Query, err = c.String("query", "apikey"); err != nil {
		return nil, err
	}
	var realm string
	if conf.HideCredentials, conf.Anonymous, realm, err = c.AuthFields("key"); err != nil {
		return nil, err
	}
	conf.wwwAuth = `apikey realm="` + realm + `"`
	return &conf, nil
}

func (keyAuth) CompileConsumer(raw []byte) (string, any, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return "", nil, err
	}
	if err := c.Required("key"); err != nil {
		return "", nil, err
	}
	key, err := c.String("key", "")
	if err != nil {
		return "", nil, err
	}
	return key, nil, nil
}

// Rewrite authenticates the request.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	h := &r.Ctx.Request.Header
	fromHeader := true
	key := h.PeekCanonical(c.headerKey)
	present := len(key) > 0
	if !present {
		// A header sent empty is a key, an invalid one: APISIX reads "" and looks it up.
		present = len(h.PeekAll(c.Header)) > 0
	}
	if !present {
		fromHeader = false
		args := r.Ctx.QueryArgs()
		key, present = args.Peek(c.Query), args.Has(c.Query)
	}
	var cred *plugin.Credential
	body := missingKey
	if present {
		body = invalidKey
		if len(key) > 0 {
			cred = r.Consumers.Lookup(Name, key)
		}
	}
	if cred == nil {
		if c.Anonymous == "" {
			r.Ctx.Response.Header.Set("WWW-Authenticate", c.wwwAuth)
			return plugin.Reply{Status: 401, Body: body}
		}
		anon := r.Consumers.Consumer(c.Anonymous)
		if anon == nil {
			return plugin.Reply{Status: 401, Body: invalidUsr}
		}
		r.Attach(anon, "")
		return plugin.Reply{}
	}
	if c.HideCredentials {
		if fromHeader {
			h.Del(c.Header)
		} else {
			r.DelQueryArg(c.Query)
		}
	}
	r.Attach(cred.Consumer, cred.ID)
	return plugin.Reply{}
}
