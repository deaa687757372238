package jwtauth

import (
	"fmt"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// hsCredential compiles an HS256 credential of a new consumer user.
func hsCredential(t testing.TB, user, conf string) (key string, cred *plugin.Credential) {
	t.Helper()
	key, cc, err := Plugin.CompileConsumer([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	return key, &plugin.Credential{Consumer: plugin.NewConsumer(user, "", "", nil, false), Conf: cc}
}

// indexOf is a consumer index holding creds under their keys (key, credential, key, ...), as
// the snapshot builder makes one: a new index per snapshot, an unchanged credential reused.
func indexOf(kv ...any) *plugin.Consumers {
	cs := plugin.NewConsumers()
	for i := 0; i+1 < len(kv); i += 2 {
		cred := kv[i+1].(*plugin.Credential)
		cs.Add(cred.Consumer)
		cs.AddCredential(Name, kv[i].(string), cred)
	}
	return cs
}

// confs compiles conf twice on the clock clk: with its token cache, and without one (every
// token verified), to compare them.
func confs(t testing.TB, conf string, clk *atomic.Int64) (cached, uncached *Conf) {
	t.Helper()
	for _, c := range []**Conf{&cached, &uncached} {
		inst, err := Plugin.Compile([]byte(conf), nil)
		if err != nil {
			t.Fatal(err)
		}
		*c = inst.(*Conf)
		(*c).clock = clk
	}
	uncached.cache = nil
	return cached, uncached
}

// answer is what Rewrite made of a request: the reply and the consumer attached.
type answer struct {
	status   int
	body     string
	consumer string
}

func ask(c *Conf, cs *plugin.Consumers, token string) answer {
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/x")
	ctx.Request.Header.Set("Authorization", "Bearer "+token)
	r := &plugin.Request{Ctx: &ctx, Consumers: cs}
	rep := c.Rewrite(r)
	a := answer{status: rep.Status, body: string(rep.Body)}
	if r.Consumer != nil {
		a.consumer = r.Consumer.Username
	}
	return a
}

// TestCacheNeverAcceptsMore: a cached conf answers every request as the same conf without a
// cache does, when the secret changes, the consumer is deleted, the key moves to another
// consumer, the token expires or is not yet valid, or a token differs from a cached one only in
// its signature; and the steps that must be served from the cache are.
func TestCacheNeverAcceptsMore(t *testing.T) {
	const t0 = 1_700_000_000
	var clk atomic.Int64
	cached, uncached := confs(t, `{}`, &clk)

	_, credOld := hsCredential(t, "jack", `{"key":"jack","secret":"old"}`)
	_, credNew := hsCredential(t, "jack", `{"key":"jack","secret":"new"}`)
	_, credJill := hsCredential(t, "jill", `{"key":"jack","secret":"old"}`)
	_, credGraced := hsCredential(t, "jack", `{"key":"jack","secret":"old","lifetime_grace_period":100}`)
	csOld := indexOf("jack", credOld)
	csOldAgain := indexOf("jack", credOld) // the next snapshot, jack unchanged
	csNew := indexOf("jack", credNew)      // jack's secret changed
	csGone := indexOf()                    // jack deleted
	csJill := indexOf("jack", credJill)    // the key now belongs to jill, with the same secret
	csGraced := indexOf("jack", credGraced)

	claims := jwt.MapClaims{"key": "jack", "exp": t0 + 60, "nbf": t0 - 10}
	tokOld := sign(t, "HS256", []byte("old"), claims)
	tokNew := sign(t, "HS256", []byte("new"), claims)
	dot := strings.LastIndexByte(tokOld, '.')

	jack := answer{consumer: "jack"}
	fail := answer{status: 401, body: string(failed)}
	steps := []struct {
		name  string
		cs    *plugin.Consumers
		now   int64
		token string
		hit   bool // the token must be served from the cache
		want  answer
	}{
		{"first use", csOld, t0, tokOld, false, jack},
		{"again", csOld, t0, tokOld, true, jack},
		{"next snapshot, credential unchanged", csOldAgain, t0, tokOld, true, jack},
		{"secret changed", csNew, t0, tokOld, false, fail},
		{"new secret", csNew, t0, tokNew, false, jack},
		{"back to the old secret", csOld, t0, tokNew, false, fail},
		{"consumer deleted", csGone, t0, tokOld, false, answer{status: 401, body: string(invalidKey)}},
		{"old token, old secret", csOld, t0, tokOld, true, jack},
		{"expired", csOld, t0 + 60, tokOld, true, fail},
		{"not valid yet", csOld, t0 - 10, tokOld, true, fail},
		{"valid again", csOld, t0 + 59, tokOld, true, jack},
		{"signature's first character changed", csOld, t0, flipBit(tokOld, dot+1), false, fail},
		{"signature's last character changed", csOld, t0, flipBit(tokOld, len(tokOld)-1), false, fail},
		{"signature cut", csOld, t0, tokOld[:len(tokOld)-1], false, fail},
		{"signature cut to nothing", csOld, t0, tokOld[:dot+1], false, fail},
		{"signature extended", csOld, t0, tokOld + "A", false, fail},
		{"payload changed", csOld, t0, tamper(tokOld), false, fail},
		{"grace period added", csGraced, t0 + 60, tokOld, false, jack},
		{"with its grace", csGraced, t0 + 60, tokOld, true, jack},
		{"key moved to another consumer", csJill, t0, tokOld, false, answer{consumer: "jill"}},
		{"and back", csOld, t0, tokOld, false, jack},
	}
	for _, st := range steps {
		clk.Store(st.now)
		hit := cached.cache.get([]byte(st.token), st.cs) != nil
		got, want := ask(cached, st.cs, st.token), ask(uncached, st.cs, st.token)
		if got != want || got != st.want {
			t.Errorf("%s: cached %+v, uncached %+v, want %+v", st.name, got, want, st.want)
		}
		if hit != st.hit {
			t.Errorf("%s: from the cache %v, want %v", st.name, hit, st.hit)
		}
	}
}

// flipBit returns tok with the top bit of the 6 its base64url character i stands for flipped
// (the bits nginx's decoder ignores at the end of a part are the low ones).
func flipBit(tok string, i int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	return tok[:i] + string(alphabet[strings.IndexByte(alphabet, tok[i])^0x20]) + tok[i+1:]
}

// TestCacheClaimsToVerify: a conf that requires exp never caches a token without one, and a
// cached token keeps its exp checked.
func TestCacheClaimsToVerify(t *testing.T) {
	var clk atomic.Int64
	clk.Store(1000)
	cached, uncached := confs(t, `{"claims_to_verify":["exp","nbf"]}`, &clk)
	_, cred := hsCredential(t, "jack", `{"key":"jack","secret":"s"}`)
	cs := indexOf("jack", cred)
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   answer
	}{
		{"no exp", jwt.MapClaims{"nbf": 900}, answer{status: 401, body: string(failed)}},
		{"no nbf", jwt.MapClaims{"exp": 2000}, answer{status: 401, body: string(failed)}},
		{"both", jwt.MapClaims{"exp": 2000, "nbf": 900}, answer{consumer: "jack"}},
	} {
		tc.claims["key"] = "jack"
		tok := sign(t, "HS256", []byte("s"), tc.claims)
		for range 2 {
			if got, want := ask(cached, cs, tok), ask(uncached, cs, tok); got != want || got != tc.want {
				t.Errorf("%s: cached %+v, uncached %+v, want %+v", tc.name, got, want, tc.want)
			}
		}
		if cachedNow := cached.cache.get([]byte(tok), cs) != nil; cachedNow != (tc.want.status == 0) {
			t.Errorf("%s: cached %v", tc.name, cachedNow)
		}
	}
}

// TestCacheLongToken: a token longer than maxCachedToken is verified on each use, never cached.
func TestCacheLongToken(t *testing.T) {
	var clk atomic.Int64
	cached, _ := confs(t, `{}`, &clk)
	_, cred := hsCredential(t, "jack", `{"key":"jack","secret":"s"}`)
	cs := indexOf("jack", cred)
	tok := sign(t, "HS256", []byte("s"), jwt.MapClaims{"key": "jack", "pad": strings.Repeat("x", maxCachedToken)})
	for range 2 {
		if got := ask(cached, cs, tok); got.consumer != "jack" {
			t.Fatalf("got %+v", got)
		}
	}
	if cached.cache.get([]byte(tok), cs) != nil || cached.cache.table.Load() != nil {
		t.Error("a long token was cached")
	}
}

// TestCacheConcurrent: goroutines share a conf while the index in use alternates between two
// secrets for the same key and more tokens than the cache holds go through it (evictions);
// every answer is the one the index in use gives.
func TestCacheConcurrent(t *testing.T) {
	var clk atomic.Int64
	clk.Store(1000)
	conf, _ := confs(t, `{}`, &clk)
	_, credA := hsCredential(t, "jack", `{"key":"jack","secret":"a"}`)
	_, credB := hsCredential(t, "jack", `{"key":"jack","secret":"b"}`)
	indexes := []*plugin.Consumers{indexOf("jack", credA), indexOf("jack", credB)}
	secrets := []string{"a", "b"}
	n := cacheSlots * 3 / 2
	toks := make([][2]string, n)
	for i := range toks {
		c := jwt.MapClaims{"key": "jack", "exp": 2000, "jti": fmt.Sprint(i)}
		toks[i] = [2]string{sign(t, "HS256", []byte("a"), c), sign(t, "HS256", []byte("b"), c)}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				k := (i + g) % n
				for idx := range indexes {
					for s := range secrets {
						got := ask(conf, indexes[idx], toks[k][s])
						if ok := got.consumer == "jack"; ok != (idx == s) {
							errs <- fmt.Sprintf("token %d signed with %q, index of %q: %+v", k, secrets[s], secrets[idx], got)
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestCacheHashCollision: an entry whose hash a different token shares (a collision, made here
// by hand) does not answer for it: the whole token is compared.
func TestCacheHashCollision(t *testing.T) {
	var clk atomic.Int64
	clk.Store(1000)
	conf, _ := confs(t, `{}`, &clk)
	_, cred := hsCredential(t, "jack", `{"key":"jack","secret":"s"}`)
	cs := indexOf("jack", cred)
	good := sign(t, "HS256", []byte("s"), jwt.MapClaims{"key": "jack"})
	forged := flipBit(good, len(good)-1)
	if got := ask(conf, cs, good); got.consumer != "jack" {
		t.Fatalf("got %+v", got)
	}
	v := *conf.cache.get([]byte(good), cs)
	v.hash = maphash.Bytes(conf.cache.seed, []byte(forged))
	i, j := slots(v.hash)
	tab := conf.cache.table.Load()
	tab[i].Store(&v)
	tab[j].Store(&v)
	if conf.cache.get([]byte(forged), cs) != nil {
		t.Fatal("a token was served from the entry of another with the same hash")
	}
	if got := ask(conf, cs, forged); got.status != 401 {
		t.Fatalf("forged token: %+v", got)
	}
}

func TestEqual(t *testing.T) {
	a := []byte("0123456789abcdefghijklmnopqrstuvwxyz.ABCDEFGHIJ")
	for n := 0; n <= len(a); n++ {
		b := append([]byte(nil), a[:n]...)
		if !equal(a[:n], b) {
			t.Fatalf("%q != itself", b)
		}
		for i := range n {
			b[i] ^= 0x40
			if equal(a[:n], b) {
				t.Fatalf("%q == %q", a[:n], b)
			}
			b[i] ^= 0x40
		}
	}
}
