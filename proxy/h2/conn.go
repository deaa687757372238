package h2

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

const (
	// streamWindow is SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream before
	// its handler reads it (x/net/http2's MaxUploadBufferPerStream).
	streamWindow = 1 << 20
	// connWindow is the connection's receive window: what a client may send on all its
	// streams before their handlers read it, so the most a connection buffers.
	connWindow = 1 << 20
	// prefaceTimeout bounds the wait for the client's preface and first SETTINGS.
	prefaceTimeout = 10 * time.Second
	// writeBufferSize is the connection's write buffer: the frames of several streams go out
	// in one write of up to this size.
	writeBufferSize = 32 << 10
	// readBufferSize is the buffer under the framer: a frame's header and payload, and the
	// several small frames a client sends at once (HEADERS of many streams, WINDOW_UPDATE,
	// SETTINGS ACK), are taken from it rather than by a read of the TLS connection each.
	readBufferSize = 4 << 10
	maxWindow      = 1<<31 - 1
)

// conn is one HTTP/2 connection. Its reader goroutine (serve) reads and answers frames and
// hands each request to a handler goroutine; handlers write their responses themselves, under
// wmu, into one buffered writer that the last of the writers at a moment flushes.
//
// Lock order: mu, then fmu. wmu is never held with either, nor they with it.
type conn struct {
	s     *Server
	nc    Conn
	local net.Addr
	peer  net.Addr
	state tls.ConnectionState
	// verifyFailed is the connection's ClientVerifyFailed.
	verifyFailed string
	br           *bufio.Reader // the reader's alone: what the framer reads from
	fr           *http2.Framer // the reader's alone
	blocks       blockReader   // the reader's alone: header blocks
	done         chan struct{} // closed when the reader ends
	settingsOut  chan struct{} // closed once the server's SETTINGS are written
	wg           sync.WaitGroup
	closeOnce    sync.Once

	mu          sync.Mutex
	streams     map[uint32]*Stream // open streams (not closed on either side)
	maxStreamID uint32             // the highest stream the client opened
	handlers    int                // handlers running or queued
	queue       []*Stream          // streams waiting for a handler slot
	goingAway   bool               // GOAWAY sent or received: no new streams
	started     bool               // the server's SETTINGS are out (or on their way)
	draining    atomic.Bool        // Shutdown asked for GOAWAY
	lastStream  atomic.Uint32      // maxStreamID, for close, which may not take mu
	// Streams the client reset before their answer was out, and streams answered: the
	// rapid-reset guard.
	resets, answered int
	idleSince        time.Time // when the last stream closed
	idleTimer        *time.Timer
	unackedSettings  int // the reader's

	// Send-side flow control.
	fmu        sync.Mutex
	sendWindow int64     // the connection's
	initWindow int32     // the client's SETTINGS_INITIAL_WINDOW_SIZE
	waiters    []*Stream // streams waiting for the connection's window
	maxFrame   atomic.Uint32

	// Receive-side flow control: what the client may still send, and what was read but not
	// yet given back with WINDOW_UPDATE.
	recvWindow atomic.Int32
	unacked    atomic.Int32

	wmu      sync.Mutex
	pending  atomic.Int32 // writers that want wmu or hold it: the last one flushes
	bw       *bufio.Writer
	werr     error
	hdr      [9]byte
	goneAway bool // a GOAWAY is written
}

var (
	errClientReset = errors.New("h2: stream reset by the client")
	errStreamReset = errors.New("h2: stream reset")
	errConnClosed  = errors.New("h2: connection closed")
	errGoAway      = errors.New("h2: connection going away")
)

func newConn(s *Server, nc Conn) *conn {
	c := &conn{
		s:           s,
		nc:          nc,
		local:       nc.LocalAddr(),
		peer:        nc.RemoteAddr(),
		state:       nc.ConnectionState(),
		done:        make(chan struct{}),
		settingsOut: make(chan struct{}),
		streams:     make(map[uint32]*Stream),
		sendWindow:  65535,
		initWindow:  65535,
	}
	if f, ok := nc.(interface{ ClientVerifyFailed() string }); ok {
		c.verifyFailed = f.ClientVerifyFailed()
	}
	c.maxFrame.Store(16384)
	c.recvWindow.Store(connWindow)
	c.br = bufio.NewReaderSize(nc, readBufferSize)
	c.fr = http2.NewFramer(nil, c.br)
	c.fr.SetMaxReadFrameSize(16384) // SETTINGS_MAX_FRAME_SIZE's default, which the server keeps
	c.blocks.init(s.headerListSize)
	return c
}

// connError is a connection error with its name for CountError.
type connError struct {
	code http2.ErrCode
	name string
}

func (e connError) Error() string {
	return "h2: connection error " + e.code.String() + " (" + e.name + ")"
}

// streamError is a stream error with its name for CountError ("" counts nothing).
type streamError struct {
	id   uint32
	code http2.ErrCode
	name string
}

func (e streamError) Error() string {
	return "h2: stream error " + e.code.String() + " (" + e.name + ")"
}

// serve reads the connection until it ends, then waits for its handlers.
func (c *conn) serve() {
	err := c.readLoop()
	var ce connError
	switch {
	case errors.As(err, &ce):
		c.s.countError(ce.name)
		c.s.opts.Logger.Debug("HTTP/2 connection error", "client", c.peer.String(), "error", err)
		c.goAway(ce.code)
	case errors.Is(err, errGoAway):
	default:
		c.s.opts.Logger.Debug("HTTP/2 connection ended", "client", c.peer.String(), "error", err)
	}
	c.close()
	close(c.done)
	c.mu.Lock()
	c.goingAway = true
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	for _, st := range c.streams {
		st.abort(errConnClosed)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// close sends what the connection's writer holds (a response, GOAWAY), then closes the
// connection once; the reader's next read fails.
func (c *conn) close() {
	c.closeOnce.Do(func() {
		c.wmu.Lock()
		if c.werr == nil && c.draining.Load() && !c.goneAway && c.settingsSent() {
			// The last stream of a draining connection ended before drain's GOAWAY went.
			if c.bw == nil {
				c.bw = c.s.writers.Get().(*bufio.Writer)
				c.bw.Reset(c.nc)
			}
			c.writeGoAway(c.lastStream.Load(), http2.ErrCodeNo)
		}
		if c.bw != nil && c.werr == nil {
			c.flush()
		}
		c.werr = errConnClosed
		c.wmu.Unlock()
		_ = c.nc.Close()
	})
}

// readLoop reads the preface and frames until an error.
func (c *conn) readLoop() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(prefaceTimeout))
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.br, preface[:]); err != nil {
		return err
	}
	if string(preface[:]) != http2.ClientPreface {
		return connError{http2.ErrCodeProtocol, "bad_preface"}
	}
	c.mu.Lock()
	going := c.goingAway
	c.started = !going
	c.mu.Unlock()
	if going {
		return errGoAway
	}
	err := c.writeSettings()
	close(c.settingsOut)
	if err != nil {
		return err
	}
	c.unackedSettings = 1
	first := true
	for {
		f, err := c.fr.ReadFrame()
		if hf, ok := f.(*http2.HeadersFrame); ok && err == nil {
			f, err = c.blocks.read(c.fr, hf)
		}
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.mu.Lock()
				if se.StreamID > c.maxStreamID && se.StreamID%2 == 1 {
					c.maxStreamID = se.StreamID // an invalid request still opened its stream
					c.lastStream.Store(se.StreamID)
				}
				c.mu.Unlock()
				c.s.countError("stream_" + se.Code.String())
				c.resetStream(se.StreamID, se.Code)
				continue
			}
			if errors.Is(err, http2.ErrFrameTooLarge) {
				return connError{http2.ErrCodeFrameSize, "frame_too_large"}
			}
			var fe http2.ConnectionError
			if errors.As(err, &fe) {
				return connError{http2.ErrCode(fe), "frame_" + http2.ErrCode(fe).String()}
			}
			return err
		}
		if first {
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				return connError{http2.ErrCodeProtocol, "first_settings"}
			}
			_ = c.nc.SetReadDeadline(time.Time{})
			c.startIdleTimer()
			first = false
		}
		if err := c.process(f); err != nil {
			var se streamError
			if errors.As(err, &se) {
				if se.name != "" {
					c.s.countError(se.name)
				}
				c.resetStream(se.id, se.code)
				continue
			}
			return err
		}
	}
}

// process handles one frame from the client.
func (c *conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return c.writeControl(func() { c.writePing(f.Data) })
	case *http2.GoAwayFrame:
		// The client takes no more responses past its streams; let them finish.
		c.mu.Lock()
		c.goingAway = true
		last := len(c.streams) == 0 && c.handlers == 0
		c.mu.Unlock()
		if last {
			return errGoAway
		}
		return nil
	case *http2.PushPromiseFrame:
		return connError{http2.ErrCodeProtocol, "push_promise"}
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			return streamError{f.StreamID, http2.ErrCodeProtocol, "priority"}
		}
		return nil // priorities are ignored, as RFC 9113 allows
	}
	return nil // unknown frame types are ignored (RFC 9113 section 4.1)
}

// lookup is the open stream id, or nil.
func (c *conn) lookup(id uint32) (*Stream, uint32) {
	c.mu.Lock()
	st, max := c.streams[id], c.maxStreamID
	c.mu.Unlock()
	return st, max
}

func (c *conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return connError{http2.ErrCodeProtocol, "headers_even"}
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		c.mu.Unlock()
		return c.processTrailers(st, f)
	}
	if id <= c.maxStreamID {
		c.mu.Unlock()
		return connError{http2.ErrCodeProtocol, "stream_went_down"}
	}
	c.maxStreamID = id
	c.lastStream.Store(id)
	if c.goingAway {
		c.mu.Unlock()
		return nil // past the GOAWAY's last stream: the client retries it elsewhere
	}
	if len(c.streams) >= int(c.s.opts.MaxConcurrentStreams) {
		c.mu.Unlock()
		return streamError{id, http2.ErrCodeRefusedStream, "over_max_streams"}
	}
	c.mu.Unlock()
	st := newStream(c, id)
	if f.Truncated {
		st.status = 431 // the header list is larger than SETTINGS_MAX_HEADER_LIST_SIZE
		c.s.countError("headers_too_long")
	} else if err := st.takeHead(f); err != nil {
		return err
	}
	st.remoteEnded = f.StreamEnded()
	c.mu.Lock()
	c.streams[id] = st
	c.idleSince = time.Time{}
	c.wg.Add(1)
	if c.handlers >= int(c.s.opts.MaxConcurrentStreams) {
		// Handlers of reset streams still run: hold new streams back until they end.
		if len(c.queue) >= 4*int(c.s.opts.MaxConcurrentStreams) {
			c.mu.Unlock()
			c.wg.Done()
			return connError{http2.ErrCodeEnhanceYourCalm, "too_many_early_resets"}
		}
		c.queue = append(c.queue, st)
		c.handlers++
		c.mu.Unlock()
		return nil
	}
	c.handlers++
	c.mu.Unlock()
	c.s.dispatch(st)
	return nil
}

// processTrailers takes a HEADERS frame on a stream whose request is open: its trailers, which
// end the body and are otherwise ignored.
func (c *conn) processTrailers(st *Stream, f *http2.MetaHeadersFrame) error {
	st.rmu.Lock()
	ended := st.remoteEnded
	st.rmu.Unlock()
	switch {
	case ended:
		return streamError{st.id, http2.ErrCodeStreamClosed, "headers_half_closed"}
	case !f.StreamEnded():
		return streamError{st.id, http2.ErrCodeProtocol, "trailers_not_ended"}
	case len(f.PseudoFields()) > 0:
		return streamError{st.id, http2.ErrCodeProtocol, "trailers_pseudo"}
	}
	st.endBody()
	return nil
}

func (c *conn) processData(f *http2.DataFrame) error {
	id, n := f.StreamID, int32(f.Length)
	if n > c.recvWindow.Load() {
		return connError{http2.ErrCodeFlowControl, "flow_on_data_length"}
	}
	c.recvWindow.Add(-n)
	st, max := c.lookup(id)
	if st == nil {
		if id > max {
			return connError{http2.ErrCodeProtocol, "data_on_idle"}
		}
		c.giveBack(n) // a stream reset or answered: its data is dropped
		return streamError{id, http2.ErrCodeStreamClosed, "closed"}
	}
	return st.takeData(f.Data(), n, f.StreamEnded())
}

func (c *conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.fmu.Lock()
		if c.sendWindow+inc > maxWindow {
			c.fmu.Unlock()
			return connError{http2.ErrCodeFlowControl, "bad_flow"}
		}
		c.sendWindow += inc
		ws := c.waiters
		c.waiters = c.waiters[:0]
		for _, st := range ws {
			st.waitingConn = false
			st.wake()
		}
		c.fmu.Unlock()
		return nil
	}
	st, max := c.lookup(f.StreamID)
	if st == nil {
		if f.StreamID > max {
			return connError{http2.ErrCodeProtocol, "window_update_idle"}
		}
		return nil // a closed stream's
	}
	c.fmu.Lock()
	if int64(st.sendWindow)+inc > maxWindow {
		c.fmu.Unlock()
		return streamError{st.id, http2.ErrCodeFlowControl, "bad_flow"}
	}
	st.sendWindow += int32(inc)
	c.fmu.Unlock()
	st.wake()
	return nil
}

func (c *conn) processReset(f *http2.RSTStreamFrame) error {
	st, max := c.lookup(f.StreamID)
	if st == nil {
		if f.StreamID > max {
			return connError{http2.ErrCodeProtocol, "reset_idle_stream"}
		}
		return nil
	}
	c.mu.Lock()
	early := false
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
		if !st.answered.Load() {
			c.resets++
			early = c.resets > 2*int(c.s.opts.MaxConcurrentStreams) && c.resets > c.answered
		}
	}
	c.mu.Unlock()
	c.giveBack(st.abort(errClientReset))
	if early {
		// A client that resets each stream as soon as it opens it (CVE-2023-44487) has each
		// request run up to the upstream; past 2 × MaxConcurrentStreams of them, when they
		// are most of the connection's streams, it loses the connection.
		c.s.opts.Logger.Debug("HTTP/2 connection closed: rapid reset", "client", c.peer.String())
		return connError{http2.ErrCodeEnhanceYourCalm, "rapid_reset"}
	}
	return nil
}

func (c *conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		if c.unackedSettings == 0 {
			return connError{http2.ErrCodeProtocol, "ack_mystery"}
		}
		c.unackedSettings--
		return nil
	}
	if f.NumSettings() > 100 || f.HasDuplicates() {
		return connError{http2.ErrCodeProtocol, "settings_big_or_dups"}
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return connError{http2.ErrCode(ce), "setting_" + s.ID.String()}
			}
			return connError{http2.ErrCodeProtocol, "setting_" + s.ID.String()}
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			return c.setInitialWindow(int32(s.Val))
		case http2.SettingMaxFrameSize:
			c.maxFrame.Store(s.Val)
		}
		// HEADER_TABLE_SIZE: the response encoder uses no dynamic table. ENABLE_PUSH: the
		// server pushes nothing. MAX_HEADER_LIST_SIZE is advisory.
		return nil
	})
	if err != nil {
		return err
	}
	return c.writeControl(func() { c.writeFrameHeader(0, http2.FrameSettings, http2.FlagSettingsAck, 0) })
}

// setInitialWindow applies a new SETTINGS_INITIAL_WINDOW_SIZE to every open stream's window
// (RFC 9113 section 6.9.2).
func (c *conn) setInitialWindow(v int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fmu.Lock()
	defer c.fmu.Unlock()
	delta := v - c.initWindow
	c.initWindow = v
	for _, st := range c.streams {
		if int64(st.sendWindow)+int64(delta) > maxWindow {
			return connError{http2.ErrCodeFlowControl, "setting_win_size"}
		}
		st.sendWindow += delta
		if delta > 0 {
			st.wake()
		}
	}
	return nil
}

// resetStream sends RST_STREAM for id and closes the stream if it is open.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	st := c.streams[id]
	if st != nil {
		delete(c.streams, id)
	}
	c.mu.Unlock()
	if st != nil {
		c.giveBack(st.abort(errStreamReset))
	}
	_ = c.writeControl(func() { c.writeReset(id, code) })
}

// streamDone ends st once its handler returned: its slot goes to a queued stream, and a
// connection going away closes after its last stream.
func (c *conn) streamDone(st *Stream) {
	c.mu.Lock()
	if c.streams[st.id] == st {
		delete(c.streams, st.id)
	}
	if st.answered.Load() {
		c.answered++
	}
	c.handlers--
	var next *Stream
	if len(c.queue) > 0 {
		next = c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
	}
	idle := len(c.streams) == 0 && c.handlers == 0
	if idle {
		c.idleSince = time.Now()
	}
	last := idle && c.goingAway
	c.mu.Unlock()
	if next != nil {
		c.s.dispatch(next)
	}
	if last {
		c.close()
	}
	c.wg.Done()
}

// drain sends GOAWAY: the open streams finish, no new one starts, and the connection closes
// after the last.
func (c *conn) drain() {
	c.mu.Lock()
	if c.goingAway {
		c.mu.Unlock()
		return
	}
	c.goingAway = true
	c.draining.Store(true)
	if !c.started {
		// Before the server's SETTINGS, which must come first: nothing is in flight.
		c.mu.Unlock()
		c.close()
		return
	}
	idle := len(c.streams) == 0 && c.handlers == 0
	c.wg.Add(1) // under mu: serve has not begun to wait (it sets goingAway first)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		select {
		case <-c.settingsOut: // GOAWAY must not overtake the SETTINGS
		case <-c.done:
			return
		}
		c.goAway(http2.ErrCodeNo)
		if idle {
			c.close()
		}
	}()
}

// goAway sends GOAWAY with code and the last stream the connection took.
func (c *conn) goAway(code http2.ErrCode) {
	c.mu.Lock()
	c.goingAway = true
	last := c.maxStreamID
	c.mu.Unlock()
	_ = c.writeControl(func() { c.writeGoAway(last, code) })
}

// writeGoAway appends GOAWAY. Called with wmu held.
func (c *conn) writeGoAway(last uint32, code http2.ErrCode) {
	c.writeFrameHeader(8, http2.FrameGoAway, 0, 0)
	var b [8]byte
	putUint32(b[:4], last)
	putUint32(b[4:], uint32(code))
	_, _ = c.bw.Write(b[:])
	c.goneAway = true
}

// settingsSent reports whether the server's SETTINGS are written.
func (c *conn) settingsSent() bool {
	select {
	case <-c.settingsOut:
		return true
	default:
		return false
	}
}

// startIdleTimer closes the connection once it has had no stream for IdleTimeout.
func (c *conn) startIdleTimer() {
	c.mu.Lock()
	c.idleSince = time.Now()
	c.idleTimer = time.AfterFunc(c.s.opts.IdleTimeout, c.checkIdle)
	c.mu.Unlock()
}

func (c *conn) checkIdle() {
	select {
	case <-c.done:
		return
	default:
	}
	c.mu.Lock()
	if c.goingAway && len(c.streams) == 0 && c.handlers == 0 {
		c.mu.Unlock()
		c.close()
		return
	}
	idle := !c.idleSince.IsZero() && len(c.streams) == 0 && c.handlers == 0
	left := c.s.opts.IdleTimeout
	if idle {
		left -= time.Since(c.idleSince)
	}
	if idle && left <= 0 {
		c.mu.Unlock()
		c.drain()
		return
	}
	c.idleTimer.Reset(left)
	c.mu.Unlock()
}

// giveBack returns n bytes of the connection's receive window to the client, in one
// WINDOW_UPDATE once a quarter of the window is due.
func (c *conn) giveBack(n int32) {
	if n <= 0 {
		return
	}
	if due := c.unacked.Add(n); due >= connWindow/4 && c.unacked.CompareAndSwap(due, 0) {
		c.recvWindow.Add(due)
		_ = c.writeControl(func() { c.writeWindowUpdate(0, uint32(due)) })
	}
}

func putUint32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
