package jwtauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// keys are a key pair per asymmetric algorithm family, made once per test binary.
type keys struct {
	rsa     *rsa.PrivateKey
	ec256   *ecdsa.PrivateKey
	ec384   *ecdsa.PrivateKey
	ed      ed25519.PrivateKey
	pemOf   map[string]string // algorithm -> public key PEM
	private map[string]crypto.PrivateKey
}

var testKeys = sync.OnceValue(func() *keys {
	k := &keys{pemOf: map[string]string{}, private: map[string]crypto.PrivateKey{}}
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	k.ec256, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k.ec384, _ = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, k.ed, _ = ed25519.GenerateKey(rand.Reader)
	pub := func(p crypto.PublicKey) string {
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			panic(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	}
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256"} {
		k.pemOf[alg], k.private[alg] = pub(&k.rsa.PublicKey), k.rsa
	}
	k.pemOf["ES256"], k.private["ES256"] = pub(&k.ec256.PublicKey), k.ec256
	k.pemOf["ES384"], k.private["ES384"] = pub(&k.ec384.PublicKey), k.ec384
	k.pemOf["EdDSA"], k.private["EdDSA"] = pub(k.ed.Public()), k.ed
	return k
})

// sign returns a token of claims signed with alg by key.
func sign(t testing.TB, alg string, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// raw builds a token from a header and payload given as JSON, with sig as its signature part.
func raw(header, payload, sig string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(payload)) + "." + sig
}

func TestCompile(t *testing.T) {
	def := Conf{Header: "authorization", Query: "jwt", Cookie: "jwt", KeyClaimName: "key", wwwAuth: `Bearer realm="jwt"`}
	tests := []struct {
		name, conf, err string
		want            Conf
	}{
		{"defaults", `{}`, "", def},
		{"all set", `{"header":"X-Jwt","query":"t","cookie":"c","hide_credentials":true,"key_claim_name":"sub","store_in_ctx":true,` +
			`"realm":"r","anonymous_consumer":"anon","claims_to_verify":["exp","nbf"]}`, "",
			Conf{Header: "X-Jwt", Query: "t", Cookie: "c", HideCredentials: true, KeyClaimName: "sub", Anonymous: "anon",
				VerifyExp: true, VerifyNbf: true, wwwAuth: `Bearer realm="r"`}},
		{"empty claims_to_verify", `{"claims_to_verify":[]}`, "", def},
		{"unknown claim", `{"claims_to_verify":["iat"]}`, `property "claims_to_verify" validation failed: failed to validate item: matches none of the enum values`, Conf{}},
		{"repeated claim", `{"claims_to_verify":["exp","exp"]}`, `expected unique items but items 1 and 2 are equal`, Conf{}},
		{"empty key_claim_name", `{"key_claim_name":""}`, `property "key_claim_name" validation failed: string too short, expected at least 1, got 0`, Conf{}},
		{"header type", `{"header":true}`, `property "header" validation failed: wrong type: expected string, got boolean`, Conf{}},
		{"realm with a quote", `{"realm":"a\"b"}`, `property "realm" validation failed: failed to match pattern`, Conf{}},
		{"empty anonymous", `{"anonymous_consumer":""}`, `property "anonymous_consumer" validation failed: string too short`, Conf{}},
		{"not an object", `"x"`, `wrong type: expected object, got string`, Conf{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := Plugin.Compile([]byte(tt.conf), nil)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := *inst.(*Conf)
			if got.cache == nil {
				t.Error("no token cache")
			}
			got.cache = nil
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCompileConsumer(t *testing.T) {
	k := testKeys()
	pemJSON := func(alg string) string { b, _ := json.Marshal(k.pemOf[alg]); return string(b) }
	tests := []struct{ name, conf, key, err string }{
		{"HS256 default", `{"key":"k","secret":"s"}`, "k", ""},
		{"HS512 base64", `{"key":"k","secret":"c2VjcmV0","algorithm":"HS512","base64_secret":true}`, "k", ""},
		{"RS256", `{"key":"k","algorithm":"RS256","public_key":` + pemJSON("RS256") + `}`, "k", ""},
		{"ES384", `{"key":"k","algorithm":"ES384","public_key":` + pemJSON("ES384") + `}`, "k", ""},
		{"EdDSA", `{"key":"k","algorithm":"EdDSA","public_key":` + pemJSON("EdDSA") + `}`, "k", ""},
		{"HS with a public key too", `{"key":"k","secret":"s","public_key":"x"}`, "k", ""},
		{"missing key", `{"secret":"s"}`, "", `property "key" is required`},
		{"empty key", `{"key":"","secret":"s"}`, "", `property "key" validation failed: string too short, expected at least 1, got 0`},
		{"key type", `{"key":1,"secret":"s"}`, "", `property "key" validation failed: wrong type: expected string, got number`},
		{"empty secret", `{"key":"k","secret":""}`, "", `property "secret" validation failed: string too short, expected at least 1, got 0`},
		{"HS without secret", `{"key":"k"}`, "", `property "secret" is required when using HS based algorithms`},
		{"bad base64 secret", `{"key":"k","secret":"a!b","base64_secret":true}`, "", "base64_secret required but the secret is not in base64 format"},
		{"unknown algorithm", `{"key":"k","secret":"s","algorithm":"none"}`, "", `property "algorithm" validation failed: matches none of the enum values`},
		{"RS256 without public key", `{"key":"k","algorithm":"RS256"}`, "",
			`failed to validate dependent schema for "algorithm": value should match only one schema, but matches none`},
		{"RS256 with an empty public key", `{"key":"k","algorithm":"RS256","public_key":""}`, "",
			`failed to validate dependent schema for "algorithm": value should match only one schema, but matches none`},
		{"RS256 with a bad PEM", `{"key":"k","algorithm":"RS256","public_key":"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"}`, "",
			"Consumer Public Key is Invalid"},
		{"ES256 with an RSA key", `{"key":"k","algorithm":"ES256","public_key":` + pemJSON("RS256") + `}`, "", "Consumer Public Key is Invalid"},
		{"negative grace", `{"key":"k","secret":"s","lifetime_grace_period":-1}`, "", `property "lifetime_grace_period" validation failed`},
		{"exp zero", `{"key":"k","secret":"s","exp":0}`, "", `property "exp" validation failed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, _, err := Plugin.CompileConsumer([]byte(tt.conf))
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) || key != tt.key {
				t.Errorf("key %q, error %v; want %q, %q", key, err, tt.key, tt.err)
			}
		})
	}
}

// index builds a consumer index with one consumer per algorithm (key = the algorithm's name,
// "hs-b64" for a base64 secret, "graced" with a grace period of 100 s) and an anonymous one.
func index(t testing.TB) *plugin.Consumers {
	t.Helper()
	k := testKeys()
	cs := plugin.NewConsumers()
	add := func(name, credID, conf string) {
		c := plugin.NewConsumer(name, "", "", nil, false)
		cs.Add(c)
		key, cc, err := Plugin.CompileConsumer([]byte(conf))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		cs.AddCredential(Name, key, &plugin.Credential{Consumer: c, ID: credID, Conf: cc})
	}
	for _, alg := range []string{"HS256", "HS384", "HS512"} {
		add(alg, "", fmt.Sprintf(`{"key":%q,"secret":"s3cr3t","algorithm":%q}`, alg, alg))
	}
	for alg, p := range k.pemOf {
		pj, _ := json.Marshal(p)
		add(alg, "", fmt.Sprintf(`{"key":%q,"algorithm":%q,"public_key":%s}`, alg, alg, pj))
	}
	add("hs-b64", "cred-b64", `{"key":"hs-b64","secret":"AAECAw==","base64_secret":true}`)
	add("graced", "", `{"key":"graced","secret":"s3cr3t","lifetime_grace_period":100}`)
	cs.Add(plugin.NewConsumer("anon", "", "", nil, false))
	return cs
}

// rewriteCase is a request to jwt-auth and what it must give.
type rewriteCase struct {
	name, conf, uri string
	headers         []string
	status          int
	body            string // the 401's
	consumer        string
	upstreamURI     string
	upstreamHeaders map[string]string // "" = absent
}

func TestRewrite(t *testing.T) {
	k := testKeys()
	cs := index(t)
	now := time.Now().Unix()
	hs := func(key string, claims jwt.MapClaims) string {
		claims["key"] = key
		return sign(t, "HS256", []byte("s3cr3t"), claims)
	}
	good := hs("HS256", jwt.MapClaims{"exp": now + 3600})
	const (
		missing = `{"message":"Missing JWT token in request"}` + "\n"
		invalid = `{"message":"JWT token invalid"}` + "\n"
		noKey   = `{"message":"missing user key in JWT token"}` + "\n"
		badKey  = `{"message":"Invalid user key in JWT token"}` + "\n"
		failed  = `{"message":"failed to verify jwt"}` + "\n"
	)
	type tc = rewriteCase
	tests := []tc{
		{name: "missing", status: 401, body: missing},
		{name: "bearer header", headers: []string{"Authorization", "Bearer " + good}, consumer: "HS256",
			upstreamHeaders: map[string]string{"Authorization": "Bearer " + good, "X-Consumer-Username": "HS256"}},
		{name: "lower-case bearer", headers: []string{"Authorization", "bearer " + good}, consumer: "HS256"},
		{name: "bare header", headers: []string{"Authorization", good}, consumer: "HS256"},
		{name: "BEARER is not stripped", headers: []string{"Authorization", "BEARER " + good}, status: 401, body: invalid},
		{name: "empty header", headers: []string{"Authorization", ""}, uri: "/x?jwt=" + good, status: 401, body: invalid},
		{name: "query", uri: "/x?a=1&jwt=" + good, consumer: "HS256", upstreamURI: "/x?a=1&jwt=" + good},
		{name: "cookie", headers: []string{"Cookie", "a=1; jwt=" + good}, consumer: "HS256"},
		{name: "header before query", uri: "/x?jwt=" + good, headers: []string{"Authorization", "nope"}, status: 401, body: invalid},
		{name: "custom sources", conf: `{"header":"X-Token","query":"t","cookie":"c"}`, headers: []string{"Cookie", "c=" + good}, consumer: "HS256"},
		{name: "hide header", conf: `{"hide_credentials":true}`, headers: []string{"Authorization", "Bearer " + good}, consumer: "HS256",
			upstreamHeaders: map[string]string{"Authorization": ""}},
		{name: "hide query", conf: `{"hide_credentials":true}`, uri: "/x?a=1&jwt=" + good + "&b=2", consumer: "HS256", upstreamURI: "/x?a=1&b=2"},
		{name: "hide cookie", conf: `{"hide_credentials":true}`, headers: []string{"Cookie", "a=1; jwt=" + good + "; b=2"}, consumer: "HS256",
			upstreamHeaders: map[string]string{"Cookie": "a=1; b=2"}},
		{name: "hide even when invalid", conf: `{"hide_credentials":true,"anonymous_consumer":"anon"}`, headers: []string{"Authorization", "x"},
			consumer: "anon", upstreamHeaders: map[string]string{"Authorization": ""}},
		{name: "not three parts", headers: []string{"Authorization", "a.b"}, status: 401, body: invalid},
		{name: "four parts", headers: []string{"Authorization", good + ".x"}, status: 401, body: invalid},
		{name: "bad base64", headers: []string{"Authorization", "e!J.e30.x"}, status: 401, body: invalid},
		{name: "header not JSON", headers: []string{"Authorization", raw(`{"alg":`, `{"key":"HS256"}`, "x")}, status: 401, body: invalid},
		{name: "header not an object", headers: []string{"Authorization", raw(`[]`, `{"key":"HS256"}`, "x")}, status: 401, body: invalid},
		{name: "no key claim", headers: []string{"Authorization", hs("", jwt.MapClaims{})}, status: 401, body: badKey},
		{name: "key claim absent", headers: []string{"Authorization", raw(`{"alg":"HS256"}`, `{"sub":"x"}`, "x")}, status: 401, body: noKey},
		{name: "key claim false", headers: []string{"Authorization", raw(`{"alg":"HS256"}`, `{"key":false}`, "x")}, status: 401, body: noKey},
		{name: "key claim a number", headers: []string{"Authorization", raw(`{"alg":"HS256"}`, `{"key":1}`, "x")}, status: 401, body: badKey},
		{name: "payload an array", headers: []string{"Authorization", raw(`{"alg":"HS256"}`, `["key"]`, "x")}, status: 401, body: noKey},
		{name: "unknown key", headers: []string{"Authorization", hs("nobody", jwt.MapClaims{})}, status: 401, body: badKey},
		{name: "escaped key claim", headers: []string{"Authorization", sign(t, "HS256", []byte("s3cr3t"), jwt.MapClaims{"k\u0065y": "HS\u0032\u0035\u0036"})},
			consumer: "HS256"},
		{name: "key_claim_name", conf: `{"key_claim_name":"iss"}`, headers: []string{"Authorization", sign(t, "HS256", []byte("s3cr3t"), jwt.MapClaims{"iss": "HS256"})},
			consumer: "HS256"},
		{name: "wrong secret", headers: []string{"Authorization", sign(t, "HS256", []byte("other"), jwt.MapClaims{"key": "HS256"})}, status: 401, body: failed},
		{name: "alg differs from the consumer's", headers: []string{"Authorization", sign(t, "HS384", []byte("s3cr3t"), jwt.MapClaims{"key": "HS256"})},
			status: 401, body: failed},
		{name: "alg none", headers: []string{"Authorization", raw(`{"alg":"none"}`, `{"key":"HS256"}`, "")}, status: 401, body: failed},
		{name: "signature not base64url", headers: []string{"Authorization", good[:strings.LastIndexByte(good, '.')+1] + "a+b"}, status: 401, body: failed},
		{name: "base64 secret", headers: []string{"Authorization", sign(t, "HS256", []byte{0, 1, 2, 3}, jwt.MapClaims{"key": "hs-b64"})},
			consumer: "hs-b64", upstreamHeaders: map[string]string{"X-Credential-Identifier": "cred-b64"}},
		{name: "expired", headers: []string{"Authorization", hs("HS256", jwt.MapClaims{"exp": now - 10})}, status: 401, body: failed},
		{name: "expired within grace", headers: []string{"Authorization", hs("graced", jwt.MapClaims{"exp": now - 10})}, consumer: "graced"},
		{name: "expired beyond grace", headers: []string{"Authorization", hs("graced", jwt.MapClaims{"exp": now - 1000})}, status: 401, body: failed},
		{name: "exp not a number", headers: []string{"Authorization", hs("HS256", jwt.MapClaims{"exp": "never"})}, status: 401, body: failed},
		{name: "exp huge", headers: []string{"Authorization", hs("HS256", jwt.MapClaims{"exp": json.Number("1e400")})}, consumer: "HS256"},
		{name: "nbf in the future", headers: []string{"Authorization", hs("HS256", jwt.MapClaims{"nbf": now + 100})}, status: 401, body: failed},
		{name: "nbf within grace", headers: []string{"Authorization", hs("graced", jwt.MapClaims{"nbf": now + 10})}, consumer: "graced"},
		{name: "nbf past", headers: []string{"Authorization", hs("HS256", jwt.MapClaims{"nbf": now - 10})}, consumer: "HS256"},
		{name: "no time claims", headers: []string{"Authorization", hs("HS256", jwt.MapClaims{})}, consumer: "HS256"},
		{name: "claims_to_verify requires exp", conf: `{"claims_to_verify":["exp"]}`, headers: []string{"Authorization", hs("HS256", jwt.MapClaims{})},
			status: 401, body: failed},
		{name: "claims_to_verify, exp present", conf: `{"claims_to_verify":["exp","nbf"]}`,
			headers: []string{"Authorization", hs("HS256", jwt.MapClaims{"exp": now + 10, "nbf": now - 10})}, consumer: "HS256"},
		{name: "anonymous", conf: `{"anonymous_consumer":"anon"}`, consumer: "anon"},
		{name: "anonymous, token given", conf: `{"anonymous_consumer":"anon"}`, headers: []string{"Authorization", good}, consumer: "HS256"},
		{name: "anonymous missing", conf: `{"anonymous_consumer":"ghost"}`, status: 401, body: `{"message":"Invalid user authorization"}` + "\n"},
		{name: "custom realm", conf: `{"realm":"zone"}`, status: 401, body: missing},
	}
	for _, alg := range []string{"HS384", "HS512"} {
		tests = append(tests, tc{name: alg, headers: []string{"Authorization", sign(t, alg, []byte("s3cr3t"), jwt.MapClaims{"key": alg, "exp": now + 60})},
			consumer: alg})
	}
	for alg := range k.pemOf {
		tok := sign(t, alg, k.private[alg], jwt.MapClaims{"key": alg, "exp": now + 60})
		tests = append(tests,
			tc{name: alg, headers: []string{"Authorization", "Bearer " + tok}, consumer: alg},
			tc{name: alg + " tampered", headers: []string{"Authorization", tamper(tok)}, status: 401, body: failed},
			tc{name: alg + " expired", headers: []string{"Authorization", sign(t, alg, k.private[alg], jwt.MapClaims{"key": alg, "exp": now - 60})},
				status: 401, body: failed})
	}
	// A token of an asymmetric consumer signed with HMAC over its public key (the
	// algorithm-confusion attack) is refused by the alg check.
	tests = append(tests, tc{name: "HS256 over an RSA public key", headers: []string{"Authorization",
		sign(t, "HS256", []byte(k.pemOf["RS256"]), jwt.MapClaims{"key": "RS256"})}, status: 401, body: failed})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := tt.conf
			if conf == "" {
				conf = `{}`
			}
			inst, err := Plugin.Compile([]byte(conf), nil)
			if err != nil {
				t.Fatal(err)
			}
			uri := tt.uri
			if uri == "" {
				uri = "/x"
			}
			// The same request twice: verified, then (when it authenticated) from the cache.
			for _, pass := range []string{"first", "again"} {
				t.Run(pass, func(t *testing.T) { checkRewrite(t, inst, cs, conf, uri, tt) })
			}
		})
	}
}

// checkRewrite sends tt's request to inst and checks the answer and what reaches the upstream.
func checkRewrite(t *testing.T, inst plugin.Instance, cs *plugin.Consumers, conf, uri string, tt rewriteCase) {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI(uri)
	for i := 0; i+1 < len(tt.headers); i += 2 {
		ctx.Request.Header.Set(tt.headers[i], tt.headers[i+1])
	}
	r := &plugin.Request{Ctx: &ctx, Consumers: cs}
	rep := inst.(plugin.Rewriter).Rewrite(r)
	if rep.Status != tt.status || string(rep.Body) != tt.body {
		t.Fatalf("reply %d %q, want %d %q", rep.Status, rep.Body, tt.status, tt.body)
	}
	wantWWW := ""
	if tt.status == 401 {
		wantWWW = `Bearer realm="jwt"`
		if strings.Contains(conf, "realm") {
			wantWWW = `Bearer realm="zone"`
		}
	}
	if got := string(ctx.Response.Header.Peek("WWW-Authenticate")); got != wantWWW {
		t.Errorf("WWW-Authenticate %q, want %q", got, wantWWW)
	}
	if r.Consumer == nil && tt.consumer != "" || r.Consumer != nil && r.Consumer.Username != tt.consumer {
		t.Errorf("consumer %v, want %q", r.Consumer, tt.consumer)
	}
	if tt.upstreamURI != "" {
		if got := string(ctx.Request.Header.RequestURI()); got != tt.upstreamURI {
			t.Errorf("upstream URI %q, want %q", got, tt.upstreamURI)
		}
	}
	for k, v := range tt.upstreamHeaders {
		if got := string(ctx.Request.Header.Peek(k)); got != v {
			t.Errorf("upstream header %s %q, want %q", k, got, v)
		}
	}
}

// tamper flips a bit of a token's payload.
func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p, _ := base64.RawURLEncoding.DecodeString(parts[1])
	p = []byte(strings.Replace(string(p), `"exp":`, `"exp":1`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(p)
	return strings.Join(parts, ".")
}

func TestKeepCookies(t *testing.T) {
	tests := []struct{ name, in, drop, want string }{
		{"only it", "jwt=a.b.c", "jwt", ""},
		{"first", "jwt=a.b.c; x=1", "jwt", "x=1"},
		{"middle", "a=1; jwt=t; b=2", "jwt", "a=1; b=2"},
		{"odd characters dropped, as APISIX's pattern does", "a=1%2; b=x y; jwt=t", "jwt", "a=1; b=x"},
		{"prefix of another name", "jwtx=1; jwt=2", "jwt", "jwtx=1"},
		{"empty", "", "jwt", ""},
		{"no equals", "abc; def", "jwt", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(keepCookies(nil, []byte(tt.in), tt.drop)); got != tt.want {
				t.Errorf("keepCookies(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestMember(t *testing.T) {
	tests := []struct{ name, obj, key, want string }{
		{"simple", `{"key":"v"}`, "key", `"v"`},
		{"spaces", ` { "a" : 1 , "key" : "v" } `, "key", `"v"`},
		{"nested skipped", `{"a":{"key":"no"},"b":["key",{"key":1}],"key":2}`, "key", "2"},
		{"last wins", `{"key":1,"key":2}`, "key", "2"},
		{"escaped name", `{"k\u0065y":true}`, "key", "true"},
		{"quote in string", `{"a":"x\"}","key":null}`, "key", "null"},
		{"absent", `{"a":1}`, "key", ""},
		{"array", `["key"]`, "key", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(member([]byte(tt.obj), tt.key)); got != tt.want {
				t.Errorf("member(%s, %q) = %q, want %q", tt.obj, tt.key, got, tt.want)
			}
		})
	}
}
