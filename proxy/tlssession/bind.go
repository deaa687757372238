package tlssession

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"time"
)

// bindTag starts the Extra item Bind adds, so that Check finds it among others.
var bindTag = []byte("zoneproxy-bind-1\x00")

// Bind records in ss what its session may resume under: key (the SSL object's Binding), the SNI
// and the time it was made.
func Bind(ss *tls.SessionState, key []byte, sni string, now time.Time) {
	b := make([]byte, 0, len(bindTag)+8+1+len(key)+len(sni))
	b = append(b, bindTag...)
	b = binary.BigEndian.AppendUint64(b, uint64(now.Unix()))
	b = append(b, byte(len(key)))
	b = append(b, key...)
	b = append(b, sni...)
	ss.Extra = append(ss.Extra, b)
}

// Check reports whether ss was bound by Bind with this key and SNI (compared as server names:
// case-insensitive) no longer than timeout before now.
func Check(ss *tls.SessionState, key []byte, sni string, now time.Time, timeout time.Duration) bool {
	for _, b := range ss.Extra {
		rest, ok := bytes.CutPrefix(b, bindTag)
		if !ok || len(rest) < 9 {
			continue
		}
		made := time.Unix(int64(binary.BigEndian.Uint64(rest)), 0)
		kl := int(rest[8])
		rest = rest[9:]
		if len(rest) < kl {
			return false
		}
		return bytes.Equal(rest[:kl], key) && bytes.EqualFold(rest[kl:], []byte(sni)) &&
			!now.Before(made.Add(-time.Second)) && now.Sub(made) <= timeout
	}
	return false
}

// Store is where sessions go: a Cache, or Tickets.
type Store interface {
	WrapSession(tls.ConnectionState, *tls.SessionState) ([]byte, error)
	UnwrapSession([]byte, tls.ConnectionState) (*tls.SessionState, error)
	// Timeout is how long a session may resume; Now the clock.
	Timeout() time.Duration
	Now() time.Time
}

// Tickets is the stateless Store (ssl_session_tickets on): the session travels in the ticket,
// encrypted by Keys' EncryptTicket with its session ticket keys (crypto/tls rotates automatic
// ones), which every SSL object's tls.Config shares through it.
type Tickets struct {
	Keys *tls.Config
	// TTL is how long a ticket resumes (0: DefaultTimeout), as nginx's ssl_session_timeout
	// applies to tickets too.
	TTL   time.Duration
	Clock func() time.Time // nil: time.Now
}

func (t *Tickets) WrapSession(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
	return t.Keys.EncryptTicket(cs, ss)
}

func (t *Tickets) UnwrapSession(ticket []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
	ss, err := t.Keys.DecryptTicket(ticket, cs)
	if err != nil {
		return nil, nil // not ours, or from keys rotated out: a full handshake
	}
	return ss, nil
}

func (t *Tickets) Timeout() time.Duration {
	if t.TTL <= 0 {
		return DefaultTimeout
	}
	return t.TTL
}

func (t *Tickets) Now() time.Time {
	if t.Clock == nil {
		return time.Now()
	}
	return t.Clock()
}

// Bound returns the WrapSession and UnwrapSession of a tls.Config for one SSL object: its
// sessions go to st, bound to key and the handshake's SNI, and only such sessions resume.
func Bound(st Store, key []byte) (wrap func(tls.ConnectionState, *tls.SessionState) ([]byte, error),
	unwrap func([]byte, tls.ConnectionState) (*tls.SessionState, error)) {
	wrap = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		Bind(ss, key, cs.ServerName, st.Now())
		return st.WrapSession(cs, ss)
	}
	unwrap = func(ticket []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := st.UnwrapSession(ticket, cs)
		if ss == nil || err != nil || !Check(ss, key, cs.ServerName, st.Now(), st.Timeout()) {
			return nil, nil
		}
		return ss, nil
	}
	return wrap, unwrap
}
