//go:build unix

package transport

import (
	"crypto/tls"
	"net"
	"os"
	"syscall"
)

// sock does what the net package has no call for on an upstream connection's socket, without
// allocating after its first use: a non-blocking peek (closedWhileIdle), and writing a request
// then waiting for the response without first trying a read that could only find nothing
// (sendWait). It belongs to one connection, which serves one request at a time.
type sock struct {
	rc   syscall.RawConn
	peek func(fd uintptr) bool
	send func(fd uintptr) bool

	closed bool    // peek: the peer closed, or sent something unasked
	buf    [1]byte // peek's

	out   []byte // send: what is left to write
	n     int    // send: bytes written
	err   error  // send: the write's error
	calls int    // send: how often the runtime called send
}

// init binds s to c's socket. It reports false when c has none.
func (s *sock) init(c net.Conn) bool {
	if s.rc != nil {
		return true
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	s.rc = rc
	s.peek = func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), s.buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// n == 0 without an error is the peer's FIN; n > 0 is data nobody asked for.
		s.closed = n > 0 || err == nil || (err != syscall.EAGAIN && err != syscall.EWOULDBLOCK)
		return true
	}
	s.send = func(fd uintptr) bool {
		if s.calls++; s.calls > 1 {
			// The runtime woke us: the socket is readable (or closed, or the wake-up was
			// spurious, which the read that follows finds out).
			return true
		}
		for len(s.out) > 0 {
			n, err := syscall.Write(int(fd), s.out)
			if n > 0 {
				s.n += n
				s.out = s.out[n:]
			}
			switch {
			case err == syscall.EINTR:
			case err != nil:
				s.err = err
				return true
			case n <= 0:
				s.err = syscall.EAGAIN
				return true
			}
		}
		// All sent: wait for readability without a read.
		return false
	}
	return true
}

// closedWhileIdle reports whether the upstream closed a pooled connection or sent something
// unasked while it sat idle: a non-blocking peek at the socket, before every request on a
// reused connection. Unasked bytes would be read as the answer to the request (an upstream that
// wrote a second response after the first); a closed connection would fail it, and a request
// that must not be replayed once sent (a POST) could not take another. On a connection dialled
// through ConfigureClient it allocates nothing after the first time.
func closedWhileIdle(c net.Conn) bool {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	var s *sock
	if cc, ok := c.(*countedConn); ok {
		s, c = &cc.sock, cc.Conn
	} else {
		s = new(sock) // a connection of another dialler: its own sock, each time
	}
	if !s.init(c) {
		return false
	}
	s.closed = false
	if err := s.rc.Read(s.peek); err != nil {
		return true
	}
	return s.closed
}

// sendWait writes b to a plain TCP upstream connection dialled through ConfigureClient, then
// waits, under the connection's read deadline, until the response starts to arrive, so that the
// read which follows finds data at once. Go's own Read would first try a read that finds nothing
// (EAGAIN) and only then wait: one system call per request saved.
//
// The write happens inside the raw read, after the runtime has reset the socket's readiness, so
// that a response arriving at any time after it wakes the wait: nothing can be missed.
//
// ok is false when sendWait could not be used (TLS, a connection of another dialler); then
// nothing was written. n counts the bytes written. werr is the write's error; a write that would
// have blocked is no error: n < len(b) then, and the caller writes the rest the ordinary way and
// reads as usual. rerr is the wait's error (the read deadline, a closed connection) once all was
// written.
func sendWait(c net.Conn, b []byte) (n int, ok bool, werr, rerr error) {
	cc, isCounted := c.(*countedConn)
	if !isCounted || !cc.sock.init(cc.Conn) {
		return 0, false, nil, nil
	}
	s := &cc.sock
	s.out, s.n, s.err, s.calls = b, 0, nil, 0
	rerr = s.rc.Read(s.send)
	n, werr = s.n, s.err
	s.out, s.err = nil, nil
	switch {
	case s.calls == 0:
		// The raw read failed before calling send (a closed connection, a deadline already
		// past): nothing was written; the ordinary way finds out.
		return 0, false, nil, nil
	case werr == syscall.EAGAIN || werr == syscall.EWOULDBLOCK:
		return n, true, nil, nil
	case werr != nil:
		return n, true, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(),
			Err: os.NewSyscallError("write", werr)}, nil
	}
	return n, true, nil, rerr
}
