package jwtauth

import (
	"encoding/binary"
	"hash/maphash"
	"sync/atomic"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Cache sizes. A route conf's table is cacheSlots pointers (8 KiB), made on its first verified
// token; each entry holds a copy of its token, and tokens longer than maxCachedToken are never
// cached (a typical HS256 token is 150 to 400 bytes), so that a conf's cache stays under about
// 1 MiB whatever its clients send.
const (
	cacheSlots     = 1024
	maxCachedToken = 1024
)

// tokenCache remembers the tokens a route conf has verified, each with the credential it
// proved and its exp and nbf claims; see the package doc for why a hit can accept no token the
// uncached path would refuse. It is a fixed table of atomic pointers to immutable entries: a
// lookup takes no lock and allocates nothing, an insertion allocates the new entry and
// replaces whatever was in its slot. A token may live in one of two slots, chosen by two
// halves of a seeded hash (two-choice hashing: a new token replaces its own stale entry, else
// goes to an empty one of the two, else evicts the older of the two), which keeps the hit rate
// high with many clients.
//
// Safe for concurrent use; must not be copied.
type tokenCache struct {
	seed  maphash.Seed
	table atomic.Pointer[[cacheSlots]atomic.Pointer[verified]]
	clock atomic.Uint64 // insertion counter: the age of an entry
}

// verified is a token the uncached path accepted. Immutable once stored.
type verified struct {
	hash  uint64
	token []byte
	// key is the key claim's value; cred is what the index had under it. A hit requires the
	// index in use to still have cred under key.
	key  []byte
	cred *plugin.Credential
	// The time claims, checked on every hit; has* is false for an absent claim.
	exp, nbf       float64
	hasExp, hasNbf bool
	born           uint64 // the cache's clock at insertion
}

func newTokenCache() *tokenCache { return &tokenCache{seed: maphash.MakeSeed()} }

// slots returns the two slot indexes of hash h.
func slots(h uint64) (uint64, uint64) {
	return h % cacheSlots, (h >> 32) % cacheSlots
}

// get returns the entry of token if it is cached and cs still indexes its credential under
// its key; nil otherwise. It allocates nothing.
func (tc *tokenCache) get(token []byte, cs *plugin.Consumers) *verified {
	t := tc.table.Load()
	if t == nil || len(token) > maxCachedToken {
		return nil
	}
	h := maphash.Bytes(tc.seed, token)
	i, j := slots(h)
	v := t[i].Load()
	if v == nil || v.hash != h {
		if v = t[j].Load(); v == nil || v.hash != h {
			return nil
		}
	}
	// The whole token, in constant time: a hit must not tell how much of a forged signature
	// matches a cached one.
	if len(v.token) != len(token) || !equal(v.token, token) {
		return nil
	}
	if cs.Lookup(Name, v.key) != v.cred {
		return nil // the consumer, its secret or the key's owner changed: verify again
	}
	return v
}

// put caches token, which the uncached path has just accepted: key is its key claim's value,
// cred the credential found under it, exp and nbf its time claims (nil when absent, else valid
// numbers).
func (tc *tokenCache) put(token, key []byte, cred *plugin.Credential, exp, nbf []byte) {
	if len(token) > maxCachedToken {
		return
	}
	t := tc.table.Load()
	if t == nil {
		t = new([cacheSlots]atomic.Pointer[verified])
		if !tc.table.CompareAndSwap(nil, t) {
			t = tc.table.Load()
		}
	}
	buf := make([]byte, len(token)+len(key))
	copy(buf, token)
	copy(buf[len(token):], key)
	v := &verified{hash: maphash.Bytes(tc.seed, token), token: buf[:len(token):len(token)], key: buf[len(token):],
		cred: cred, born: tc.clock.Add(1)}
	v.exp, v.hasExp = number(exp)
	v.nbf, v.hasNbf = number(nbf)
	i, j := slots(v.hash)
	a, b := t[i].Load(), t[j].Load()
	switch {
	case a != nil && a.hash == v.hash: // the token again, under another credential
	case b != nil && b.hash == v.hash, a != nil && (b == nil || b.born < a.born):
		i = j
	}
	t[i].Store(v)
}

// claimsOK checks v's time claims as the uncached path does, at now (seconds).
func (v *verified) claimsOK(c *Conf, grace, now int64) bool {
	if v.hasExp {
		if !(v.exp > float64(now-grace)) {
			return false
		}
	} else if c.VerifyExp {
		return false
	}
	if v.hasNbf {
		return v.nbf < float64(now+grace)
	}
	return !c.VerifyNbf
}

// fromCache answers a token found in c's cache: its credential, or nil and failed when its time
// claims no longer hold. ok is false on a miss.
func (c *Conf) fromCache(cs *plugin.Consumers, token []byte) (_ *plugin.Credential, body []byte, ok bool) {
	if c.cache == nil {
		return nil, nil, false
	}
	v := c.cache.get(token, cs)
	if v == nil {
		return nil, nil, false
	}
	cc, _ := v.cred.Conf.(*consumerConf)
	if cc == nil || !v.claimsOK(c, cc.grace, c.now()) {
		return nil, failed, true
	}
	return v.cred, nil, true
}

// equal reports whether a and b, of the same length, are equal, in a time that depends only on
// their length (as crypto/subtle.ConstantTimeCompare, eight bytes at a time).
func equal(a, b []byte) bool {
	b = b[:len(a)]
	var d uint64
	for len(a) >= 8 {
		d |= binary.LittleEndian.Uint64(a) ^ binary.LittleEndian.Uint64(b)
		a, b = a[8:], b[8:]
	}
	for i := range a {
		d |= uint64(a[i] ^ b[i])
	}
	return d == 0
}
