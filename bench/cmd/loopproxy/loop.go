package main

import (
	"runtime"

	"golang.org/x/sys/unix"
)

const (
	bufSize = 256 << 10 // the loop's read buffer: a 64 KiB response and its head in one read
	maxIdle = 64        // upstream keep-alive connections kept per loop (nginx: keepalive 64)
	// events every socket is registered for, once: edge-triggered, so that no epoll_ctl is needed
	// when a write has to wait for room or a read for data.
	connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	inEvents   = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
)

var (
	resp400 = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp431 = []byte("HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	resp502 = []byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
)

// loop is one event loop: an OS thread of its own, its own listening socket (SO_REUSEPORT: the
// kernel spreads new connections over the loops), its clients and its pool of upstream
// connections, so that a connection never changes thread and nothing is shared between loops.
type loop struct {
	ep, lfd, wake int
	upstream      unix.Sockaddr
	family        int
	fds           []slot    // by file descriptor
	idle          []*upConn // upstream keep-alive connections, most recently used last
	freeC         []*client // closed clients, for reuse with their buffers
	freeU         []*upConn // closed upstream connections, for reuse
	buf           []byte    // every read lands here first
	hbuf          []byte    // a response head rewritten for the client
	events        []unix.EpollEvent
	ev            unix.EpollEvent // epoll_ctl's argument, kept here so that it does not escape
	iov           [2]unix.Iovec
	gen           uint32
}

// slot is what a file descriptor of the loop is; gen tells an event for a descriptor closed and
// reused in the same batch from one for its new owner.
type slot struct {
	gen uint32
	c   *client
	u   *upConn
}

// client is one accepted connection. At most one of its requests is in flight: a pipelined next
// request waits in in until the response before it is written.
type client struct {
	fd         int
	in         []byte // input not used yet: a partial head or the next requests
	scan       int    // how much of in was searched for the end of a head
	out        []byte // response bytes the socket did not take yet
	up         *upConn
	req        body // the request body still to forward
	reqDone    bool // the request in flight was forwarded whole
	readable   bool // edge-triggered: input may be waiting that was not read
	closeAfter bool // close once the response in flight is written
}

// upConn is one connection to the upstream.
type upConn struct {
	fd        int
	c         *client // the client whose request it serves; nil while idle in the pool
	in        []byte  // a response head not complete yet
	scan      int
	out       []byte // request bytes the socket did not take yet
	sent      []byte // the forwarded request head, kept for a retry on a new connection
	resp      body
	headDone  bool
	reusable  bool
	reused    bool // served a request before: a close before the response is a stale keep-alive
	got       bool // a response byte arrived
	readable  bool
	isHead    bool // the request is a HEAD
	retryable bool // the request has no body: it can be sent again
}

func (l *loop) run() {
	runtime.LockOSThread()
	for {
		n, err := l.wait()
		if err != 0 {
			if err == unix.EINTR {
				continue
			}
			panic("epoll_wait: " + err.Error())
		}
		for i := range n {
			e := &l.events[i]
			fd := int(e.Fd)
			switch fd {
			case l.lfd:
				l.accept()
				continue
			case l.wake:
				l.shutdown()
				return
			}
			s := &l.fds[fd]
			if uint32(e.Pad) != s.gen {
				continue
			}
			if s.c != nil {
				l.clientEvent(s.c, e.Events)
			} else if s.u != nil {
				l.upEvent(s.u, e.Events)
			}
		}
	}
}

// rawWait makes the loop wait in epoll_wait without telling the Go scheduler (RawSyscall), for at
// most rawWaitMS, then yield: the scheduler does not hand the loop's P to another thread while it
// waits (sysmon's retake after 20 µs, and the futex wake-ups and thread switches that costs).
var rawWait = true

const rawWaitMS = 10

func (l *loop) wait() (int, unix.Errno) {
	if !rawWait {
		n, err := unix.EpollWait(l.ep, l.events, -1)
		if err != nil {
			return 0, err.(unix.Errno)
		}
		return n, 0
	}
	n, e := sysEpollWait(l.ep, l.events, rawWaitMS)
	if n == 0 && e == 0 {
		runtime.Gosched() // let the signal handler's goroutine run when GOMAXPROCS is 1
	}
	return n, e
}

func (l *loop) register(fd int, c *client, u *upConn) bool {
	for fd >= len(l.fds) {
		l.fds = append(l.fds, slot{})
	}
	l.gen++
	l.fds[fd] = slot{gen: l.gen, c: c, u: u}
	l.ev = unix.EpollEvent{Events: connEvents, Fd: int32(fd), Pad: int32(l.gen)}
	if sysEpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &l.ev) != 0 {
		l.fds[fd] = slot{}
		return false
	}
	return true
}

// accept takes one connection per readiness report: the listening socket is level-triggered, so
// another waiting connection is reported by the next epoll_wait, with no accept ending in EAGAIN.
func (l *loop) accept() {
	fd, e := sysAccept(l.lfd)
	if e != 0 {
		return
	}
	setNoDelay(fd)
	var c *client
	if n := len(l.freeC); n > 0 {
		c, l.freeC = l.freeC[n-1], l.freeC[:n-1]
	} else {
		c = new(client)
	}
	*c = client{fd: fd, in: c.in[:0], out: c.out[:0]}
	if !l.register(fd, c, nil) {
		sysClose(fd)
		l.freeC = append(l.freeC, c)
	}
}

func (l *loop) clientEvent(c *client, ev uint32) {
	if ev&unix.EPOLLOUT != 0 && len(c.out) > 0 {
		if !l.flush(c.fd, &c.out) {
			l.abort(c)
			return
		}
		if len(c.out) == 0 {
			switch {
			case c.up != nil:
				if c.up.readable {
					l.relay(c.up)
				}
			case c.closeAfter:
				l.closeClient(c)
			default:
				l.serveClient(c)
			}
			if c.fd < 0 {
				return
			}
		}
	}
	if ev&inEvents != 0 {
		c.readable = true
		l.serveClient(c)
	}
}

// serveClient moves the client on as far as its input allows: forwards more of the request body
// in flight, or parses and starts the next request.
func (l *loop) serveClient(c *client) {
	for c.fd >= 0 && len(c.out) == 0 {
		if u := c.up; u != nil {
			if c.reqDone || len(u.out) > 0 || !c.readable {
				return // the next request waits for this response; the body for room upstream
			}
			p, ok := l.readClient(c)
			if !ok {
				return
			}
			n, done, err := c.req.consume(p)
			if err != nil {
				l.abort(c)
				return
			}
			c.reqDone = done
			c.in = append(c.in[:0], p[n:]...)
			if !l.send(u.fd, &u.out, p[:n], nil) {
				l.upFailed(u)
			}
			continue
		}
		if c.closeAfter {
			return
		}
		p := l.buf[:copy(l.buf, c.in)]
		hl, err := headEnd(p, &c.scan)
		if err == errIncomplete { // c.in still holds p: read more after it
			q, ok := l.readClient(c)
			if !ok {
				return
			}
			if hl, err = headEnd(q, &c.scan); err == errIncomplete {
				c.in = append(c.in[:0], q...)
				continue
			}
			p = q
		}
		c.in = c.in[:0]
		switch err {
		case nil:
			l.start(c, p, hl)
		case errHeadTooBig:
			l.refuse(c, resp431)
			return
		}
	}
}

// readClient reads what the client sent after its buffered input into l.buf and returns both;
// false when there is nothing (the client is then closed if it is gone).
func (l *loop) readClient(c *client) ([]byte, bool) {
	if !c.readable {
		return nil, false
	}
	n0 := copy(l.buf, c.in)
	if n0 == len(l.buf) { // no room to read into: what is buffered must be used first
		return l.buf[:n0], true
	}
	c.in = c.in[:0]
	n, e := sysRead(c.fd, l.buf[n0:])
	switch {
	case e == unix.EAGAIN:
		c.readable = false
		c.in = append(c.in, l.buf[:n0]...)
		return nil, false
	case e != 0 || n == 0:
		// closed between requests is the usual end of a keep-alive connection; anywhere else the
		// request in flight is lost with it.
		l.abort(c)
		return nil, false
	}
	if n < len(l.buf)-n0 {
		c.readable = false // read less than there was room for: nothing is left (edge-triggered)
	}
	return l.buf[:n0+n], true
}

// start forwards the request whose head is p[:hl] to an upstream connection, with as much of its
// body as p holds; what follows the request in p is kept for later.
func (l *loop) start(c *client, p []byte, hl int) {
	u := l.take()
	if u == nil {
		l.refuse(c, resp502)
		return
	}
	h, fwd, err := parseHead(p[:hl], true, u.sent[:0])
	u.sent = fwd
	if err != nil {
		l.putIdle(u)
		l.refuse(c, resp400)
		return
	}
	c.closeAfter, c.req = h.close, h.body
	n, done, err := c.req.consume(p[hl:])
	if err != nil {
		l.putIdle(u)
		l.refuse(c, resp400)
		return
	}
	c.reqDone = done
	c.in = append(c.in[:0], p[hl+n:]...)
	c.up, u.c = u, c
	u.isHead, u.retryable = h.isHead, h.body.kind == bodyNone
	u.got, u.headDone, u.reusable, u.resp = false, false, true, body{}
	if !l.send(u.fd, &u.out, fwd, p[hl:hl+n]) {
		l.upFailed(u)
	}
}

// take returns an upstream connection: the most recently used idle one, or a new one.
func (l *loop) take() *upConn {
	if n := len(l.idle); n > 0 {
		u := l.idle[n-1]
		l.idle = l.idle[:n-1]
		return u
	}
	return l.dial()
}

func (l *loop) dial() *upConn {
	fd, err := unix.Socket(l.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	setNoDelay(fd)
	if err := unix.Connect(fd, l.upstream); err != nil && err != unix.EINPROGRESS {
		sysClose(fd)
		return nil
	}
	var u *upConn
	if n := len(l.freeU); n > 0 {
		u, l.freeU = l.freeU[n-1], l.freeU[:n-1]
	} else {
		u = new(upConn)
	}
	*u = upConn{fd: fd, in: u.in[:0], out: u.out[:0], sent: u.sent[:0]}
	if !l.register(fd, nil, u) {
		sysClose(fd)
		l.freeU = append(l.freeU, u)
		return nil
	}
	return u
}

// putIdle returns a connection to the pool, or closes it when the pool is full.
func (l *loop) putIdle(u *upConn) {
	if len(l.idle) >= maxIdle {
		l.closeUp(u)
		return
	}
	u.c = nil
	l.idle = append(l.idle, u)
}

func (l *loop) upEvent(u *upConn, ev uint32) {
	if u.c == nil {
		// Idle: bytes the upstream sends now answer no request of ours, and a close ends the
		// connection; either way it must not serve the next request. An event with nothing to
		// read is a late report of the last response's data.
		if ev&inEvents != 0 {
			if _, e := sysRead(u.fd, l.buf); e != unix.EAGAIN {
				l.dropIdle(u)
			}
		}
		return
	}
	if ev&unix.EPOLLOUT != 0 && len(u.out) > 0 {
		if !l.flush(u.fd, &u.out) {
			l.upFailed(u)
			return
		}
		if c := u.c; len(u.out) == 0 && !c.reqDone && c.readable {
			l.serveClient(c)
		}
		if u.fd < 0 || u.c == nil {
			return
		}
	}
	if ev&inEvents != 0 {
		u.readable = true
		l.relay(u)
	}
}

// relay reads the upstream's response and writes it to the client, as long as the client takes it.
func (l *loop) relay(u *upConn) {
	for u.readable && u.c != nil && len(u.c.out) == 0 {
		c := u.c
		n0 := copy(l.buf, u.in)
		u.in = u.in[:0]
		n, e := sysRead(u.fd, l.buf[n0:])
		switch {
		case e == unix.EAGAIN:
			u.readable = false
			u.in = append(u.in, l.buf[:n0]...)
			return
		case e != 0 || n == 0:
			u.readable = false
			if e == 0 && u.headDone && u.resp.kind == bodyUntilClose {
				u.reusable = false
				l.endResponse(c, u)
				return
			}
			l.upFailed(u)
			return
		}
		if n < len(l.buf)-n0 {
			u.readable = false
		}
		u.got = true
		if !l.relayData(c, u, l.buf[:n0+n]) {
			return
		}
	}
}

// relayData writes response bytes p to the client: the head without its hop-by-hop fields, then the
// body as it came. False when the response ended or failed.
func (l *loop) relayData(c *client, u *upConn, p []byte) bool {
	for !u.headDone {
		hl, err := headEnd(p, &u.scan)
		if err == errIncomplete {
			u.in = append(u.in, p...)
			return true
		}
		if err != nil {
			l.badGateway(c, u)
			return false
		}
		h, out, err := parseHead(p[:hl], false, l.hbuf[:0])
		l.hbuf = out[:0]
		if err != nil || h.status == 101 {
			l.badGateway(c, u)
			return false
		}
		if h.status < 200 { // an interim response (100 Continue): relayed, the final one follows
			if !l.send(c.fd, &c.out, p[:hl], nil) {
				l.abort(c)
				return false
			}
			p = p[hl:]
			continue
		}
		u.headDone, u.reusable, u.resp = true, !h.close, h.body
		if !responseHasBody(u.isHead, h.status) {
			u.resp = body{}
		}
		addClose := c.closeAfter || u.resp.kind == bodyUntilClose
		c.closeAfter = addClose
		n, done, err := u.resp.consume(p[hl:])
		if err != nil {
			l.abort(c)
			return false
		}
		var ok bool
		if !h.dropped && !addClose {
			ok = l.send(c.fd, &c.out, p[:hl+n], nil) // the head unchanged: one write from the buffer
		} else {
			if addClose {
				out = append(out[:len(out)-2], "Connection: close\r\n\r\n"...)
			}
			ok = l.send(c.fd, &c.out, out, p[hl:hl+n])
			l.hbuf = out[:0]
		}
		if !ok {
			l.abort(c)
			return false
		}
		if done {
			if len(p) > hl+n {
				u.reusable = false // more than the response: the connection's framing is lost
			}
			l.endResponse(c, u)
			return false
		}
		return true
	}
	n, done, err := u.resp.consume(p)
	if err != nil || !l.send(c.fd, &c.out, p[:n], nil) {
		l.abort(c)
		return false
	}
	if done {
		if len(p) > n {
			u.reusable = false
		}
		l.endResponse(c, u)
		return false
	}
	return true
}

// endResponse ends the request in flight once its response was handed to the client: the
// upstream connection goes back to the pool if it can serve another, and the client goes on to its
// next request or is closed.
func (l *loop) endResponse(c *client, u *upConn) {
	c.up, u.c = nil, nil
	if !c.reqDone { // answered before the whole body was sent: neither side's framing holds
		u.reusable, c.closeAfter = false, true
	}
	// Unread input left on the upstream socket would be taken for the next response.
	if u.reusable && !u.readable && len(u.in) == 0 && len(u.out) == 0 {
		u.reused, u.scan = true, 0
		l.putIdle(u)
	} else {
		l.closeUp(u)
	}
	if c.closeAfter {
		if len(c.out) == 0 {
			l.closeClient(c)
		}
		return
	}
	l.serveClient(c)
}

// upFailed handles an upstream connection that failed or closed before its response ended. A
// request with no body, sent on a kept-alive connection that the upstream closed before answering,
// is sent again on a new connection, as nginx does.
func (l *loop) upFailed(u *upConn) {
	c := u.c
	retry := c != nil && u.reused && !u.got && u.retryable
	if retry {
		nu := l.dial()
		if nu != nil {
			nu.sent = append(nu.sent[:0], u.sent...)
			nu.isHead, nu.retryable, nu.reusable = u.isHead, true, true
			c.up, nu.c = nu, c
			u.c = nil
			l.closeUp(u)
			if !l.send(nu.fd, &nu.out, nu.sent, nil) {
				l.upFailed(nu)
			}
			return
		}
	}
	l.badGateway(c, u)
}

// badGateway closes u and answers its client 502, or closes the client if part of the response
// was already written.
func (l *loop) badGateway(c *client, u *upConn) {
	headDone := u.headDone
	u.c = nil
	l.closeUp(u)
	if c == nil {
		return
	}
	c.up = nil
	if headDone {
		l.closeClient(c)
		return
	}
	l.refuse(c, resp502)
}

// refuse answers the client with a canned response and closes it once written.
func (l *loop) refuse(c *client, resp []byte) {
	c.closeAfter = true
	if !l.send(c.fd, &c.out, resp, nil) || len(c.out) == 0 {
		l.closeClient(c)
	}
}

// send writes a then b to fd, after what out already holds; what the socket does not take is kept in
// out for its next EPOLLOUT. False when the peer is gone.
func (l *loop) send(fd int, out *[]byte, a, b []byte) bool {
	if len(a)+len(b) == 0 {
		return true
	}
	if len(*out) > 0 {
		*out = append(append(*out, a...), b...)
		return true
	}
	var n int
	var e unix.Errno
	switch {
	case len(b) == 0:
		n, e = sysWrite(fd, a)
	case len(a) == 0:
		n, e = sysWrite(fd, b)
	default:
		n, e = sysWritev(fd, &l.iov, a, b)
	}
	if e == unix.EAGAIN {
		n = 0
	} else if e != 0 {
		return false
	}
	if n < len(a) {
		*out = append(append(*out, a[n:]...), b...)
	} else if n-len(a) < len(b) {
		*out = append(*out, b[n-len(a):]...)
	}
	return true
}

// flush writes what out holds; false when the peer is gone.
func (l *loop) flush(fd int, out *[]byte) bool {
	n, e := sysWrite(fd, *out)
	if e == unix.EAGAIN {
		return true
	} else if e != 0 {
		return false
	}
	*out = append((*out)[:0], (*out)[n:]...)
	return true
}

// abort closes the client and the upstream connection of its request in flight, if any.
func (l *loop) abort(c *client) {
	if u := c.up; u != nil {
		u.c, c.up = nil, nil
		l.closeUp(u)
	}
	l.closeClient(c)
}

func (l *loop) closeClient(c *client) {
	if c.fd < 0 {
		return
	}
	l.fds[c.fd] = slot{}
	sysClose(c.fd)
	c.fd, c.up = -1, nil
	// Keep small buffers for the next client; let a large one go.
	if cap(c.in) > 4<<10 {
		c.in = nil
	}
	if cap(c.out) > 64<<10 {
		c.out = nil
	}
	l.freeC = append(l.freeC, c)
}

func (l *loop) closeUp(u *upConn) {
	if u.fd < 0 {
		return
	}
	l.fds[u.fd] = slot{}
	sysClose(u.fd)
	u.fd, u.c = -1, nil
	if cap(u.out) > 64<<10 {
		u.out = nil
	}
	l.freeU = append(l.freeU, u)
}

// dropIdle closes a connection of the pool.
func (l *loop) dropIdle(u *upConn) {
	for i, x := range l.idle {
		if x == u {
			l.idle = append(l.idle[:i], l.idle[i+1:]...)
			break
		}
	}
	l.closeUp(u)
}

func (l *loop) shutdown() {
	for fd := range l.fds {
		if s := l.fds[fd]; s.c != nil || s.u != nil {
			sysClose(fd)
		}
	}
	l.fds = nil
	sysClose(l.lfd)
	sysClose(l.wake)
	sysClose(l.ep)
}
