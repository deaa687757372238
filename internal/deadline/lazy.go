// Package deadline re-arms connection deadlines lazily: a new deadline that lands within a small
// slack of the one already armed is not armed again.
//
// A keep-alive proxy moves a connection's deadlines on every request: fasthttp arms the idle,
// header and send timeouts (keepalive_timeout, client_header_timeout, send_timeout), the
// transport the upstream's read and write timeouts. Each SetReadDeadline or SetWriteDeadline
// reads the clock and updates a runtime timer, about 0.12 µs, five times per request, for a
// deadline that moved by the microseconds since the last one. nginx does the same saving with
// its timers: ngx_add_timer leaves a timer alone when the new expiry is within
// NGX_TIMER_LAZY_DELAY (300 ms) of the old one.
//
// The slack is a sixteenth of the armed timeout, at most 300 ms, so that a timeout fires at most
// that much early or late: 300 ms of nginx's default 60 s timeouts, 62 ms of a 1 s one. A zero
// deadline (none) and a deadline moved by more than the slack, such as a shorter timeout
// replacing a longer one, or one in the past that interrupts a read, are always armed.
package deadline

import (
	"net"
	"sync/atomic"
	"time"
)

// MaxSlack bounds how far a deadline may be from the one asked for.
const MaxSlack = 300 * time.Millisecond

// Lazy holds the deadlines armed on one connection. The zero value has none armed. Its methods
// may run concurrently (a reading and a writing goroutine); each direction is armed by one at a
// time, as net.Conn's deadlines are.
type Lazy struct {
	read, write slot
}

// slot is one direction's armed deadline (Unix ns; 0 for none, unknown after an error) and the
// slack around it (ns).
type slot struct {
	at, slack atomic.Int64
}

// unknown is a slot's at after a failed Set: the connection's deadline is not known.
const unknown = -1

// SetRead is c.SetReadDeadline(t), skipped when t is within the slack of the armed one.
func (l *Lazy) SetRead(c net.Conn, t time.Time) error {
	if l.read.skip(t) {
		return nil
	}
	err := c.SetReadDeadline(t)
	l.read.armed(t, err)
	return err
}

// SetWrite is c.SetWriteDeadline(t), skipped when t is within the slack of the armed one.
func (l *Lazy) SetWrite(c net.Conn, t time.Time) error {
	if l.write.skip(t) {
		return nil
	}
	err := c.SetWriteDeadline(t)
	l.write.armed(t, err)
	return err
}

// Set is c.SetDeadline(t), for both directions.
func (l *Lazy) Set(c net.Conn, t time.Time) error {
	if l.read.skip(t) && l.write.skip(t) {
		return nil
	}
	err := c.SetDeadline(t)
	l.read.armed(t, err)
	l.write.armed(t, err)
	return err
}

// ForgetRead marks the read deadline as unknown, after one was armed on the connection without l
// (an idle connection's read cut to park it): the next SetRead arms whatever it is given.
func (l *Lazy) ForgetRead() {
	l.read.slack.Store(0)
	l.read.at.Store(unknown)
}

func (s *slot) skip(t time.Time) bool {
	at := s.at.Load()
	if t.IsZero() {
		return at == 0
	}
	if at <= 0 {
		return false
	}
	d := t.UnixNano() - at
	slack := s.slack.Load()
	return d < slack && -d < slack
}

// armed records t as armed; after an error the slot is unknown and the next call arms again.
func (s *slot) armed(t time.Time, err error) {
	if err != nil {
		s.slack.Store(0)
		s.at.Store(unknown)
		return
	}
	if t.IsZero() {
		s.slack.Store(0)
		s.at.Store(0)
		return
	}
	// A deadline already past gets no slack: the next one is armed whatever it is.
	slack := min(time.Until(t)/16, MaxSlack)
	s.slack.Store(int64(max(slack, 0)))
	s.at.Store(t.UnixNano())
}
