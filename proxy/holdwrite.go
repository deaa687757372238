package proxy

import (
	"io"
	"net"
	"sync"

	"github.com/valyala/fasthttp"
)

// One writev for a response larger than fasthttp's write buffer.
//
// fasthttp writes a response through a 4 KiB buffer: a head and a body that do not fit in it go
// out in two writes, the buffer's flush (the head and the body's first bytes) and the rest of the
// body, where nginx sends both with one writev. Told that such a response is coming
// (holdResponse), a client connection keeps a copy of its next write and sends it together with
// the write after it, in one system call: one write and one TCP push less per response.
//
// Held bytes never wait for anything but the connection's own goroutine: the hold is armed only
// for a response whose body is in memory (fasthttp writes it without waiting on anything), and
// whatever the connection does next — write, read the next request, close, splice — sends them
// first. A hijacked connection (a tunnel reads and writes from two goroutines) is never armed.

// Hold states of a lazyConn.
const (
	holdNone    int32 = iota
	holdArmed         // the next Write is kept
	holdPending       // held has bytes to send before anything else
)

// holdMax is the largest write a connection keeps: fasthttp's write buffer (its default
// WriteBufferSize, which the proxy does not change). A larger write goes out at once.
const holdMax = 4 << 10

// holdMinBody is the smallest in-memory body that arms the hold: with a head of a few hundred
// bytes, a smaller response fits fasthttp's buffer and goes out in one write anyway.
const holdMinBody = 3 << 10

// heldWrite is a kept write and what sending it with the next takes, pooled: a connection has
// one only between the two writes.
type heldWrite struct {
	b    []byte
	vec  [2][]byte
	bufs net.Buffers
}

var heldWrites = sync.Pool{New: func() any { return &heldWrite{b: make([]byte, 0, holdMax)} }}

// beforeWrite runs after the handler, before fasthttp writes the response. For a body in memory
// whose buffer holds holdMinBody or more, the client connection is told of it: it arms the hold
// when the body has that many bytes to send (not the answer to HEAD, which sends none), and it
// gives the buffer back to the transport's pool once idle (releaseBody).
func (p *Proxy) beforeWrite(ctx *fasthttp.RequestCtx) {
	resp := &ctx.Response
	if ctx.Hijacked() || resp.IsBodyStream() {
		return
	}
	body := resp.Body()
	if cap(body) < holdMinBody {
		return
	}
	c := lazyOf(ctx.Conn())
	if c == nil {
		return
	}
	c.body = resp
	if !resp.SkipBody && len(body) >= holdMinBody {
		// Bytes still held (pipelined responses that fasthttp did not flush in between) go
		// out with the next write anyway.
		c.hold.CompareAndSwap(holdNone, holdArmed)
	}
}

// writeHeld is Write when a hold is armed or pending.
func (c *lazyConn) writeHeld(b []byte) (int, error) {
	if c.hold.Load() == holdArmed {
		if len(b) > holdMax {
			c.hold.Store(holdNone)
			return c.TCPConn.Write(b)
		}
		c.held = heldWrites.Get().(*heldWrite)
		c.held.b = append(c.held.b[:0], b...)
		c.hold.Store(holdPending)
		return len(b), nil
	}
	hw := c.held
	h := len(hw.b)
	hw.vec[0], hw.vec[1] = hw.b, b
	hw.bufs = hw.vec[:]
	n, err := hw.bufs.WriteTo(c.TCPConn)
	hw.vec[1] = nil
	c.releaseHeld()
	if n < int64(h) {
		return 0, err
	}
	return int(n) - h, err
}

// flushHeld sends held bytes, or disarms a hold nothing used.
func (c *lazyConn) flushHeld() error {
	if c.hold.Load() == holdArmed {
		c.hold.Store(holdNone)
		return nil
	}
	_, err := c.TCPConn.Write(c.held.b)
	c.releaseHeld()
	return err
}

func (c *lazyConn) releaseHeld() {
	c.held.b = c.held.b[:0]
	heldWrites.Put(c.held)
	c.held = nil
	c.hold.Store(holdNone)
}

// Write sends b, after any held bytes.
func (c *lazyConn) Write(b []byte) (int, error) {
	if c.hold.Load() != holdNone {
		return c.writeHeld(b)
	}
	return c.TCPConn.Write(b)
}

// ReadFrom is the TCP connection's (splice from a socket), after any held bytes.
func (c *lazyConn) ReadFrom(r io.Reader) (int64, error) {
	if c.hold.Load() != holdNone {
		if err := c.flushHeld(); err != nil {
			return 0, err
		}
	}
	return c.TCPConn.ReadFrom(r)
}

// WriteTo is the TCP connection's, after any held bytes are sent.
func (c *lazyConn) WriteTo(w io.Writer) (int64, error) {
	if c.hold.Load() != holdNone {
		if err := c.flushHeld(); err != nil {
			return 0, err
		}
	}
	return c.TCPConn.WriteTo(w)
}

// CloseWrite shuts the sending side down, after any held bytes.
func (c *lazyConn) CloseWrite() error {
	if c.hold.Load() != holdNone {
		_ = c.flushHeld()
	}
	return c.TCPConn.CloseWrite()
}
