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
// random id; UnwrapSession finds it again until it expires. It holds at most Size sessions: when
// full, the oldest goes (all live as long, so the oldest is the first to expire). Safe for
// concurrent use.
type Cache struct {
	timeout time.Duration
	now     func() time.Time

	mu    sync.Mutex
	m     map[id]entry
	order []id // ring of the ids in insertion order; head is the oldest
	head  int
	n     int
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
	return &Cache{timeout: timeout, now: now, m: make(map[id]entry), order: make([]id, size)}
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
	// Drop the expired sessions at the head, and the oldest when full.
	for c.n > 0 {
		old := c.order[c.head]
		e, ok := c.m[old]
		if ok && c.n < len(c.order) && now.Before(e.expires) {
			break
		}
		delete(c.m, old)
		c.head = (c.head + 1) % len(c.order)
		c.n--
	}
	c.order[(c.head+c.n)%len(c.order)] = k
	c.n++
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
	c.mu.Unlock()
	if !ok || !now.Before(e.expires) {
		return nil, nil
	}
	return e.ss, nil
}
