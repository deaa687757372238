package h2

import (
	"bufio"
	"runtime"
	"time"

	"golang.org/x/net/http2"
)

// The write side. Every writer (a handler with its response, the reader with a control frame)
// announces itself in pending, then takes wmu and appends its frames to the connection's
// buffered writer; on the way out, the writer that brings pending to zero flushes. So the
// output of writers that meet (several streams' responses ready at once) leaves in one write
// and one run of TLS records, and nothing waits on another goroutine or a channel.

// lockWrite announces a writer and takes wmu. It reports false, with nothing held, when the
// connection can take no more output.
func (c *conn) lockWrite() bool {
	c.pending.Add(1)
	c.wmu.Lock()
	if c.werr != nil {
		c.pending.Add(-1)
		c.wmu.Unlock()
		return false
	}
	if c.bw == nil {
		c.bw = c.s.writers.Get().(*bufio.Writer)
		c.bw.Reset(c.nc)
	}
	return true
}

// unlockWrite releases wmu. The last writer out flushes, but first yields the processor once:
// the handlers of other streams whose upstream answered in the same poll of the network are
// runnable by then, and their responses join the write, as the responses of one event-loop
// turn do in nginx. Whoever finds no writer pending after the yield flushes.
func (c *conn) unlockWrite() {
	if c.pending.Add(-1) != 0 {
		c.wmu.Unlock()
		return
	}
	c.wmu.Unlock()
	runtime.Gosched()
	if c.pending.Load() != 0 {
		return // a writer came: its last one flushes
	}
	c.wmu.Lock()
	if c.pending.Load() == 0 {
		c.flush()
	}
	c.wmu.Unlock()
}

// flush writes the buffered frames out under the connection's send timeout, and returns the
// buffer to the pool. A write that fails ends the connection. Called with wmu held.
func (c *conn) flush() {
	bw := c.bw
	if bw == nil || c.werr != nil {
		return
	}
	if bw.Buffered() > 0 {
		// The proxy's connections re-arm a deadline only past a slack (internal/deadline):
		// this costs a clock read per flush, not a timer update.
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.s.opts.SendTimeout))
		if err := bw.Flush(); err != nil {
			c.werr = err
			_ = c.nc.Close()
			return
		}
	}
	bw.Reset(nil)
	c.s.writers.Put(bw)
	c.bw = nil
}

// writeControl writes the frames w appends (the reader's answers: SETTINGS ACK, PING ACK,
// RST_STREAM, WINDOW_UPDATE, GOAWAY).
func (c *conn) writeControl(w func()) error {
	if !c.lockWrite() {
		return errConnClosed
	}
	w()
	c.unlockWrite()
	return nil
}

// writeFrameHeader appends a frame header. Called with wmu held.
func (c *conn) writeFrameHeader(length int, typ http2.FrameType, flags http2.Flags, id uint32) {
	h := c.hdr[:]
	h[0], h[1], h[2] = byte(length>>16), byte(length>>8), byte(length)
	h[3], h[4] = byte(typ), byte(flags)
	putUint32(h[5:], id&(1<<31-1))
	_, _ = c.bw.Write(h)
}

// writeSettings sends the server's SETTINGS and opens the connection's receive window to
// connWindow, then flushes: the first thing the client reads.
func (c *conn) writeSettings() error {
	if !c.lockWrite() {
		return errConnClosed
	}
	settings := [...]http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: c.s.opts.MaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		{ID: http2.SettingMaxHeaderListSize, Val: c.s.headerListSize},
	}
	c.writeFrameHeader(6*len(settings), http2.FrameSettings, 0, 0)
	var b [6]byte
	for _, s := range settings {
		b[0], b[1] = byte(s.ID>>8), byte(s.ID)
		putUint32(b[2:], s.Val)
		_, _ = c.bw.Write(b[:])
	}
	c.writeWindowUpdate(0, connWindow-65535)
	c.unlockWrite()
	return nil
}

// writePing appends a PING ACK. Called with wmu held.
func (c *conn) writePing(data [8]byte) {
	c.writeFrameHeader(8, http2.FramePing, http2.FlagPingAck, 0)
	_, _ = c.bw.Write(data[:])
}

// writeReset appends RST_STREAM. Called with wmu held.
func (c *conn) writeReset(id uint32, code http2.ErrCode) {
	c.writeFrameHeader(4, http2.FrameRSTStream, 0, id)
	var b [4]byte
	putUint32(b[:], uint32(code))
	_, _ = c.bw.Write(b[:])
}

// writeWindowUpdate appends WINDOW_UPDATE. Called with wmu held.
func (c *conn) writeWindowUpdate(id, inc uint32) {
	c.writeFrameHeader(4, http2.FrameWindowUpdate, 0, id)
	var b [4]byte
	putUint32(b[:], inc)
	_, _ = c.bw.Write(b[:])
}

// writeHeaders appends a header block as HEADERS and as many CONTINUATION frames as the
// client's frame size needs. Called with wmu held.
func (c *conn) writeHeaders(id uint32, block []byte, endStream bool) {
	max := int(c.maxFrame.Load())
	typ, flags := http2.FrameHeaders, http2.Flags(0)
	if endStream {
		flags = http2.FlagHeadersEndStream
	}
	for {
		n := min(len(block), max)
		f := flags
		if n == len(block) {
			f |= http2.FlagHeadersEndHeaders
		}
		c.writeFrameHeader(n, typ, f, id)
		_, _ = c.bw.Write(block[:n])
		block = block[n:]
		if len(block) == 0 {
			return
		}
		typ, flags = http2.FrameContinuation, 0
	}
}

// writeData appends data as DATA frames no larger than the client's frame size, the last with
// END_STREAM if end. Called with wmu held; the window is the caller's to have taken.
func (c *conn) writeData(id uint32, data []byte, end bool) {
	max := int(c.maxFrame.Load())
	for {
		n := min(len(data), max)
		var f http2.Flags
		if end && n == len(data) {
			f = http2.FlagDataEndStream
		}
		c.writeFrameHeader(n, http2.FrameData, f, id)
		_, _ = c.bw.Write(data[:n])
		data = data[n:]
		if len(data) == 0 {
			return
		}
	}
}

// reserve takes up to n bytes of send window for st, from the connection's and the stream's,
// without waiting; 0 when either is closed (the stream is then woken when it opens).
func (c *conn) reserve(st *Stream, n int) int {
	c.fmu.Lock()
	w := min(int64(n), c.sendWindow, int64(st.sendWindow))
	if w <= 0 {
		if c.sendWindow <= 0 && !st.waitingConn {
			st.waitingConn = true
			c.waiters = append(c.waiters, st)
		}
		c.fmu.Unlock()
		return 0
	}
	c.sendWindow -= w
	st.sendWindow -= int32(w)
	c.fmu.Unlock()
	return int(w)
}
