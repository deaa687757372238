package jwtauth

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// FuzzRewrite: any Authorization value is either a consumer or a 401 with one of APISIX's
// messages, never a panic; a token that authenticates carries the right signature.
func FuzzRewrite(f *testing.F) {
	now := time.Now().Unix()
	good := sign(f, "HS256", []byte("s3cr3t"), jwt.MapClaims{"key": "HS256", "exp": now + 3600})
	es := sign(f, "ES256", testKeys().private["ES256"], jwt.MapClaims{"key": "ES256"})
	for _, s := range []string{
		good, "Bearer " + good, es, tamper(es), "", "a.b", "a.b.c", "..", "...", "e30.e30.", "=.=.=",
		raw(`{"alg":"HS256"}`, `{"key":"HS256","exp":"x"}`, "AAAA"),
		raw(`{"alg":"HS256"`, `{"key":"HS256"}`, ""),
		raw(`{"alg":"ES256"}`, `{"key":"ES256"}`, strings.Repeat("A", 86)),
		raw(`{"alg":"EdDSA"}`, `{"key":"EdDSA"}`, "_-_-"),
		raw(`{"alg":"RS256"}`, `{"key":"RS256","nbf":-1e999}`, "A"),
		raw(strings.Repeat("[", 5000), `{}`, ""),
		"Bearer " + strings.Repeat("eyJ", 20000) + "." + strings.Repeat("x", 1000) + ".",
	} {
		f.Add([]byte(s))
	}
	cs := index(f)
	inst, err := Plugin.Compile([]byte(`{}`), nil)
	if err != nil {
		f.Fatal(err)
	}
	conf := inst.(*Conf)
	valid := map[string]bool{}
	for _, m := range []string{"Missing JWT token in request", "JWT token invalid", "missing user key in JWT token",
		"Invalid user key in JWT token", "failed to verify jwt"} {
		valid[string(plugin.MessageBody(m))] = true
	}
	f.Fuzz(func(t *testing.T, auth []byte) {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/x")
		ctx.Request.Header.SetBytesV("Authorization", auth)
		r := &plugin.Request{Ctx: &ctx, Consumers: cs}
		rep := conf.Rewrite(r)
		if rep.Status == 0 {
			if r.Consumer == nil {
				t.Fatalf("%q: no answer and no consumer", auth)
			}
			// Whatever authenticated must verify with golang-jwt too.
			tok := bytes.TrimPrefix(bytes.TrimPrefix(auth, []byte("Bearer ")), []byte("bearer "))
			if _, err := jwt.Parse(string(tok), func(*jwt.Token) (any, error) { return keyOf(r.Consumer.Username), nil },
				jwt.WithValidMethods([]string{r.Consumer.Username}), jwt.WithoutClaimsValidation()); err != nil {
				t.Fatalf("%q authenticated %s, but golang-jwt says %v", auth, r.Consumer.Username, err)
			}
			return
		}
		if rep.Status != 401 || !valid[string(rep.Body)] {
			t.Fatalf("%q: %d %q", auth, rep.Status, rep.Body)
		}
	})
}

// keyOf is the verification key of index's consumer named after an algorithm.
func keyOf(alg string) any {
	k := testKeys()
	switch {
	case strings.HasPrefix(alg, "HS"):
		return []byte("s3cr3t")
	case strings.HasPrefix(alg, "ES256"):
		return &k.ec256.PublicKey
	case strings.HasPrefix(alg, "ES384"):
		return &k.ec384.PublicKey
	case alg == "EdDSA":
		return k.ed.Public()
	}
	return &k.rsa.PublicKey
}
