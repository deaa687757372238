package tlssession

import (
	"crypto/rand"
	"crypto/tls"
	"sync"
	"time"
)

// Defaults of a Cache, as APISIX's nginx: ssl_session_timeout 10m, and about as many sessions as
// ssl_session_cache shared:SSL:20m holds (OpenSSL keeps some 4,000 a megabyte).
const (
	DefaultTimeout = 10 * time.Minute
	DefaultSize    = 80_000
)

// idLen is the length of a ticket: a random id.
const idLen = 16

type id [idLen]byte

type entry struct {
	ss      *tls.SessionState
	expires time.Time
}

// Cache is the stateful session store: WrapSession keeps the session and gives the client a
// random id; UnwrapSession finds it again, once, until it expires. It holds at most size
// sessions: when full, the oldest goes (all live as long, so the oldest is the first to expire).
// Safe for concurrent use.
//
// A ticket resumes once (RFC 8446 §8.1 recommends single-use tickets; Chrome and Go's client use
// each ticket once and keep the one the resumed connection brings): every handshake, resumed
// ones too, issues a new ticket, and keeping the used ones for their 10 minutes held one session
// per connection made, 77 MiB of RSS after a few seconds of 2,500 resumed handshakes a second
// (bench hs-resume), for tickets no client offers again. nginx's cache keeps a used session
// until it expires or its 20 MiB are full; a client that offers one ticket on two connections
// gets a full handshake on the second here.
type Cache struct {
	timeout time.Duration
	now     func() time.Time

	size int

	mu    sync.Mutex
	m     map[id]entry
	order []id // the ids in insertion order from head on (the oldest); grown as needed
	head  int
}

// NewCache returns a Cache of at most size sessions (0: DefaultSize), each kept timeout (0:
// DefaultTimeout). now is the clock (nil: time.Now), for tests.
func NewCache(size int, timeout time.Duration, now func() time.Time) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if now == nil {
		now = time.Now
	}
	return &Cache{timeout: timeout, now: now, size: size, m: make(map[id]entry)}
}

// Timeout is how long a session is kept.
func (c *Cache) Timeout() time.Duration { return c.timeout }

// Now is the Cache's clock.
func (c *Cache) Now() time.Time { return c.now() }

// Len is the number of sessions held, expired ones not yet dropped included.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// WrapSession is a tls.Config.WrapSession: it keeps ss and returns its id.
func (c *Cache) WrapSession(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	var k id
	_, _ = rand.Read(k[:]) // crypto/rand.Read does not fail
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	// Drop the expired sessions at the head, and the oldest when full; ids already used (no
	// longer in m) go as they come.
	for c.head < len(c.order) {
		old := c.order[c.head]
		e, ok := c.m[old]
		if ok && len(c.m) < c.size && now.Before(e.expires) {
			break
		}
		delete(c.m, old)
		c.head++
	}
	switch q := c.order[c.head:]; {
	case len(q) >= 2*c.size:
		// Mostly used ids behind a live head: keep the live ones, in order. At least half go,
		// so this costs O(1) per session over time.
		live := c.order[:0]
		for _, x := range q {
			if _, ok := c.m[x]; ok {
				live = append(live, x)
			}
		}
		c.order, c.head = live, 0
	case c.head > 1024 && c.head*2 > len(c.order): // reuse the dropped half of the queue
		c.order = c.order[:copy(c.order, q)]
		c.head = 0
	}
	c.order = append(c.order, k)
	c.m[k] = entry{ss: ss, expires: now.Add(c.timeout)}
	return k[:], nil
}

// UnwrapSession is a tls.Config.UnwrapSession: the session of a ticket this Cache gave, or nil
// (a full handshake) for an unknown, expired or foreign ticket.
func (c *Cache) UnwrapSession(ticket []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
	if len(ticket) != idLen {
		return nil, nil
	}
	k := id(ticket)
	now := c.now()
	c.mu.Lock()
	e, ok := c.m[k]
	delete(c.m, k) // single use; its id leaves the queue when it reaches the head
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return nil, nil
	}
	return e.ss, nil
}
