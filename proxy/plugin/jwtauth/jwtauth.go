// Package jwtauth is APISIX's jwt-auth plugin (apache/apisix apisix/plugins/jwt-auth.lua and
// apisix/plugins/jwt-auth/parser.lua): a consumer is found by a claim of a JSON Web Token the
// client sends, and the token's signature and time claims must verify.
//
// Route conf: header ("authorization"), query ("jwt"), cookie ("jwt"), hide_credentials
// (false), key_claim_name ("key"), store_in_ctx (accepted, unused: nothing downstream reads the
// payload), realm ("jwt"), anonymous_consumer, claims_to_verify (a subset of exp, nbf). Consumer
// conf: key (required), secret (required for HS*; stored encrypted with the keyring by the
// control plane), algorithm (HS256; HS384, HS512, RS256/384/512, PS256/384/512,
// ES256/384/512, EdDSA), public_key (required for all but HS*), base64_secret (false),
// lifetime_grace_period (0 s), exp (86400; used only to sign, which zoneproxy does not do).
// Phase: rewrite, priority 2510.
//
// The token is the header's value ("Bearer " or "bearer " removed), else the query argument,
// else the cookie; hide_credentials removes the source used, before the token is checked (the
// cookie is rewritten as APISIX does, keeping the other `name=value` pairs). Then, in APISIX's
// order: the token must parse (three base64url parts, a JSON header and payload: else "JWT
// token invalid"); payload[key_claim_name] finds the consumer ("missing user key in JWT token",
// "Invalid user key in JWT token"); the header's alg must be the consumer's algorithm; the
// signature must verify; exp and nbf, when present (or listed in claims_to_verify, which makes
// them required), must be numbers with exp > now - grace and nbf < now + grace. A failure of the
// last three answers "failed to verify jwt"; none of a token: "Missing JWT token in request".
// Every failure is a 401 `{"message": ...}` with `WWW-Authenticate: Bearer realm="<realm>"`;
// with anonymous_consumer set the request goes on as that consumer instead ("Invalid user
// authorization" when it does not exist).
//
// Keys are compiled once per consumer version: the secret decoded, the PEM public key parsed
// (golang-jwt's parsers). Where APISIX accepts a public_key that does not parse for the
// algorithm and then answers each of its tokens "failed to verify jwt", zoneproxy rejects the
// consumer object when the snapshot is built, with the reason APISIX's verifier gives at request
// time ("Consumer Public Key is Invalid"). HMAC signatures are compared in constant time
// (APISIX compares strings); the hashers are pooled per consumer, so that an HS* request
// allocates nothing once warm. Asymmetric signatures are verified by golang-jwt's signing
// methods (the allocations are crypto/rsa's, crypto/ecdsa's and golang-jwt's).
//
// # Token cache
//
// Each route conf keeps a bounded cache of the tokens it accepted (cache.go): the whole token
// string, the key claim's value, the credential the consumer index had under it, and the exp
// and nbf claims. A request whose token is in it skips the parsing, the JSON scans and the
// signature check; the exp and nbf claims are still checked against the clock, with the
// credential's grace period and the conf's claims_to_verify, on every request. A hit allocates
// nothing and takes no lock; a newly accepted token costs one entry (tokens over 1 KiB are never
// cached).
//
// Why a hit cannot accept a token the uncached path would refuse: what the uncached path
// answers is a function of the token's bytes, the conf (key_claim_name, claims_to_verify), the
// credential the index in use holds under the token's key claim (its algorithm, secret or
// public key, grace period) and the clock. An entry exists only for a token the uncached path
// accepted under this very conf (the cache belongs to it). A hit requires the whole token to be
// equal (compared in constant time, after a 64-bit hash match), so the key claim, the header's
// alg, the signature and the claims are the ones that were verified; and it requires the index
// of the request's snapshot to hold the very same *plugin.Credential under that key. A
// credential is immutable, and the snapshot builder makes a new one whenever the consumer, its
// credential or its group changes, so a changed secret or algorithm, a deleted consumer, or a
// key now owned by another consumer is a miss, and the token is verified again. What is left
// (exp, nbf, claims_to_verify against now) is checked on the hit as the uncached path checks
// it. Only acceptances are cached; every refusal is recomputed.
package jwtauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxbase64"
)

// Name and Priority are APISIX's.
const (
	Name     = "jwt-auth"
	Priority = 2510
)

// Plugin is jwt-auth.
var Plugin plugin.Auth = jwtAuth{}

type jwtAuth struct{}

func (jwtAuth) Name() string            { return Name }
func (jwtAuth) Priority() int           { return Priority }
func (jwtAuth) EncryptFields() []string { return []string{"secret"} }

// Conf is a compiled route-side conf.
type Conf struct {
	Header, Query, Cookie string
	HideCredentials       bool
	KeyClaimName          string
	Anonymous             string
	// VerifyExp and VerifyNbf are claims_to_verify: the claim is required. Without
	// claims_to_verify (or with an empty list) both are checked when present.
	VerifyExp, VerifyNbf bool
	wwwAuth              string
	// cache holds the tokens verified under this conf (nil: none, every token is verified).
	cache *tokenCache
	// clock, when set, is the time in seconds (tests); else the system clock.
	clock *atomic.Int64
}

// now is the time in seconds against which exp and nbf are checked.
func (c *Conf) now() int64 {
	if c.clock != nil {
		return c.clock.Load()
	}
	return time.Now().Unix()
}

var (
	missingToken = plugin.MessageBody("Missing JWT token in request")
	invalidToken = plugin.MessageBody("JWT token invalid")
	missingKey   = plugin.MessageBody("missing user key in JWT token")
	invalidKey   = plugin.MessageBody("Invalid user key in JWT token")
	failed       = plugin.MessageBody("failed to verify jwt")
	invalidUser  = plugin.MessageBody("Invalid user authorization")
)

func (jwtAuth) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	var conf Conf
	if conf.Header, err = c.String("header", "authorization"); err != nil {
		return nil, err
	}
	if conf.Query, err = c.String("query", "jwt"); err != nil {
		return nil, err
	}
	if conf.Cookie, err = c.String("cookie", "jwt"); err != nil {
		return nil, err
	}
	if conf.KeyClaimName, err = c.StringLen("key_claim_name", "key", 1, -1); err != nil {
		return nil, err
	}
	if _, err = c.Bool("store_in_ctx", false); err != nil {
		return nil, err
	}
	var realm string
	if conf.HideCredentials, conf.Anonymous, realm, err = c.AuthFields("jwt"); err != nil {
		return nil, err
	}
	if !realmOK(realm) {
		return nil, fmt.Errorf("property \"realm\" validation failed: failed to match pattern %q with %q", realmPattern, realm)
	}
	claims, err := c.StringList("claims_to_verify", 0, true)
	if err != nil {
		return nil, err
	}
	for _, cl := range claims {
		switch cl {
		case "exp":
			conf.VerifyExp = true
		case "nbf":
			conf.VerifyNbf = true
		default:
			return nil, errors.New(`property "claims_to_verify" validation failed: failed to validate item: matches none of the enum values`)
		}
	}
	conf.wwwAuth = `Bearer realm="` + realm + `"`
	conf.cache = newTokenCache()
	return &conf, nil
}

// realmPattern is schema_def.get_realm_schema's: printable ASCII but '"' and '\'.
const realmPattern = `^[ -!#-[\]-~]+$`

func realmOK(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// consumerConf is a consumer's compiled conf.
type consumerConf struct {
	alg   string
	grace int64
	// HS*: a pool of keyed HMAC states.
	hmac *sync.Pool
	// Others: the signing method and the parsed public key.
	method jwt.SigningMethod
	key    any
}

type hmacState struct {
	h   hash.Hash
	sum []byte
}

var algorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512",
	"PS256", "PS384", "PS512", "EdDSA"}

// errDependent is jsonschema's error when public_key does not satisfy the dependencies of
// algorithm.
var errDependent = errors.New(`failed to validate dependent schema for "algorithm": value should match only one schema, but matches none`)

func (jwtAuth) CompileConsumer(raw []byte) (string, any, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return "", nil, err
	}
	if err := c.Required("key"); err != nil {
		return "", nil, err
	}
	key, err := c.StringLen("key", "", 1, -1)
	if err != nil {
		return "", nil, err
	}
	secret, err := c.StringLen("secret", "", 1, -1)
	if err != nil {
		return "", nil, err
	}
	alg, err := c.String("algorithm", "HS256")
	if err != nil {
		return "", nil, err
	}
	if err := plugin.Enum("algorithm", alg, algorithms...); err != nil {
		return "", nil, err
	}
	if exp, err := c.Int("exp", 86400); err != nil {
		return "", nil, err
	} else if exp < 1 {
		return "", nil, fmt.Errorf("property \"exp\" validation failed: expected %d to be at least 1", exp)
	}
	b64, err := c.Bool("base64_secret", false)
	if err != nil {
		return "", nil, err
	}
	grace, err := c.Int("lifetime_grace_period", 0)
	if err != nil {
		return "", nil, err
	}
	if grace < 0 {
		return "", nil, fmt.Errorf("property \"lifetime_grace_period\" validation failed: expected %d to be at least 0", grace)
	}
	pub, err := c.String("public_key", "")
	if err != nil {
		return "", nil, err
	}
	isHS := strings.HasPrefix(alg, "HS")
	if c.Has("algorithm") && !isHS && len(pub) == 0 {
		return "", nil, errDependent
	}
	cc := &consumerConf{alg: alg, grace: int64(grace)}
	if isHS {
		if !c.Has("secret") {
			return "", nil, errors.New(`property "secret" is required when using HS based algorithms`)
		}
		k := []byte(secret)
		if b64 {
			var ok bool
			if k, ok = ngxbase64.Decode(nil, k, ngxbase64.Std); !ok {
				return "", nil, errors.New("base64_secret required but the secret is not in base64 format")
			}
		}
		cc.hmac = hmacPool(alg, k)
		return key, cc, nil
	}
	if pub == "" {
		return "", nil, errors.New("missing valid public key")
	}
	cc.method = jwt.GetSigningMethod(alg)
	switch alg[:2] {
	case "RS", "PS":
		cc.key, err = jwt.ParseRSAPublicKeyFromPEM([]byte(pub))
	case "ES":
		cc.key, err = jwt.ParseECPublicKeyFromPEM([]byte(pub))
	default:
		cc.key, err = jwt.ParseEdPublicKeyFromPEM([]byte(pub))
	}
	if err != nil || cc.method == nil {
		return "", nil, fmt.Errorf("Consumer Public Key is Invalid (%s public_key: %v)", alg, err)
	}
	return key, cc, nil
}

func hmacPool(alg string, key []byte) *sync.Pool {
	h := sha256.New
	switch alg {
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	}
	return &sync.Pool{New: func() any {
		m := hmac.New(h, key)
		return &hmacState{h: m, sum: make([]byte, 0, m.Size())}
	}}
}

// Rewrite authenticates the request.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	raw, src := c.fetch(r)
	cred, body := c.find(r, raw, src)
	if c.HideCredentials {
		c.hide(r, src)
	}
	if cred == nil {
		r.Ctx.Response.Header.Set("WWW-Authenticate", c.wwwAuth)
		if c.Anonymous == "" {
			return plugin.Reply{Status: 401, Body: body}
		}
		anon := r.Consumers.Consumer(c.Anonymous)
		if anon == nil {
			return plugin.Reply{Status: 401, Body: invalidUser}
		}
		r.Ctx.Response.Header.Del("WWW-Authenticate")
		r.Attach(anon, "")
		return plugin.Reply{}
	}
	r.Attach(cred.Consumer, cred.ID)
	return plugin.Reply{}
}

// find returns the credential the token raw proves, or the answer's body.
func (c *Conf) find(r *plugin.Request, raw []byte, src source) (*plugin.Credential, []byte) {
	if src == none {
		return nil, missingToken
	}
	if cred, body, ok := c.fromCache(r.Consumers, raw); ok {
		return cred, body
	}
	tok, ok := parseToken(raw, &r.Scratch)
	if !ok {
		return nil, invalidToken
	}
	cred, key, body := c.consumer(r.Consumers, &tok)
	if cred == nil {
		return nil, body
	}
	cc, _ := cred.Conf.(*consumerConf)
	if cc == nil || !cc.verify(&tok, &r.Scratch) {
		return nil, failed
	}
	exp, nbf := member(tok.payload, "exp"), member(tok.payload, "nbf")
	if !c.claimsOK(exp, nbf, cc.grace, c.now()) {
		return nil, failed
	}
	if c.cache != nil {
		c.cache.put(raw, key, cred, exp, nbf)
	}
	return cred, nil
}

// consumer finds the credential named by the token's key claim; key is the claim's value.
func (c *Conf) consumer(cs *plugin.Consumers, tok *token) (_ *plugin.Credential, key, body []byte) {
	v := member(tok.payload, c.KeyClaimName)
	if v == nil || string(v) == "false" {
		return nil, nil, missingKey
	}
	key, ok := stringValue(v)
	if !ok {
		return nil, nil, invalidKey // a number, true, null, an object: no consumer has it as key
	}
	if cred := cs.Lookup(Name, key); cred != nil {
		return cred, key, nil
	}
	return nil, nil, invalidKey
}

// verify checks the header's alg and the signature.
func (cc *consumerConf) verify(tok *token, buf *[]byte) bool {
	alg, ok := stringValue(member(tok.header, "alg"))
	if !ok || string(alg) != cc.alg {
		return false
	}
	b := *buf
	n := len(b)
	b, ok = ngxbase64.Decode(b, tok.rawSig, ngxbase64.URL)
	*buf = b
	if !ok {
		return false
	}
	sig := b[n:]
	if cc.hmac != nil {
		st := cc.hmac.Get().(*hmacState)
		st.h.Reset()
		st.h.Write(tok.signingInput)
		st.sum = st.h.Sum(st.sum[:0])
		ok = hmac.Equal(st.sum, sig)
		cc.hmac.Put(st)
		return ok
	}
	in := unsafe.String(unsafe.SliceData(tok.signingInput), len(tok.signingInput))
	return cc.method.Verify(in, sig, cc.key) == nil
}

// claimsOK checks the raw exp and nbf claims (nil: absent) as parser.lua's verify_claims does,
// at now (seconds).
func (c *Conf) claimsOK(exp, nbf []byte, grace, now int64) bool {
	return claimOK(exp, c.VerifyExp, func(exp float64) bool { return exp > float64(now-grace) }) &&
		claimOK(nbf, c.VerifyNbf, func(nbf float64) bool { return nbf < float64(now+grace) })
}

func claimOK(raw []byte, required bool, valid func(float64) bool) bool {
	if raw == nil {
		return !required
	}
	f, ok := number(raw)
	return ok && valid(f)
}

// source is where the token came from.
type source uint8

const (
	none source = iota
	fromHeader
	fromQuery
	fromCookie
)

// fetch returns the token (fetch_jwt_token): the header's value (without "Bearer "), else the
// query argument, else the cookie. The bytes are the request's: they stay valid until hide.
func (c *Conf) fetch(r *plugin.Request) ([]byte, source) {
	h := &r.Ctx.Request.Header
	if v, ok := peekHeader(h, c.Header); ok {
		if len(v) >= 7 && (string(v[:7]) == "Bearer " || string(v[:7]) == "bearer ") {
			v = v[7:]
		}
		return v, fromHeader
	}
	if args := r.Ctx.QueryArgs(); args.Has(c.Query) {
		return args.Peek(c.Query), fromQuery
	}
	if v := h.Cookie(c.Cookie); v != nil {
		return v, fromCookie
	}
	return nil, none
}

// hide removes the token's source from the request (hide_credentials). APISIX does it while
// fetching; here it is done once the token is checked, which the upstream cannot tell apart.
func (c *Conf) hide(r *plugin.Request, src source) {
	h := &r.Ctx.Request.Header
	switch src {
	case fromHeader:
		h.Del(c.Header)
	case fromQuery:
		r.DelQueryArg(c.Query)
	case fromCookie:
		r.Scratch = keepCookies(r.Scratch[:0], h.Peek(fasthttp.HeaderCookie), c.Cookie)
		h.DelAllCookies()
		h.SetBytesV(fasthttp.HeaderCookie, r.Scratch)
	}
}

// keepCookies appends to dst the `name=value` pairs of the Cookie header src whose name is not
// drop, joined by "; ": jwt-auth.lua's remove_specified_cookie, which matches
// `([a-zA-Z0-9-_]*)=([a-zA-Z0-9-._]*)` over the header (so what does not match is dropped too).
func keepCookies(dst, src []byte, drop string) []byte {
	first := true
	for i := 0; i < len(src); {
		j := i
		for j < len(src) && cookieName(src[j]) {
			j++
		}
		if j == len(src) || src[j] != '=' {
			i = max(j, i+1)
			continue
		}
		k := j + 1
		for k < len(src) && cookieValue(src[k]) {
			k++
		}
		if string(src[i:j]) != drop {
			if !first {
				dst = append(dst, "; "...)
			}
			dst = append(dst, src[i:k]...)
			first = false
		}
		i = k
	}
	return dst
}

func cookieName(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func cookieValue(c byte) bool { return cookieName(c) || c == '.' }

func peekHeader(h *fasthttp.RequestHeader, name string) ([]byte, bool) {
	if v := h.Peek(name); len(v) > 0 {
		return v, true
	}
	// Present but empty is a token too ("JWT token invalid"), as in APISIX.
	return nil, len(h.PeekAll(name)) > 0
}
