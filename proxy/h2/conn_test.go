package h2

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// harness is a Server behind a real TLS listener on loopback. It counts the writes the
// server makes to its TCP connections and the errors it counts.
type harness struct {
	s      *Server
	addr   string
	writes atomic.Int64 // TCP writes after the handshakes
	errMu  sync.Mutex
	errs   []string
}

func startServer(t *testing.T, h fasthttp.RequestHandler, o Options) *harness {
	t.Helper()
	ln := tu.Listen(t)
	certPEM, keyPEM := tu.Cert(t, tu.ECDSA, "a.example")
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	hs := &harness{addr: ln.Addr().String()}
	o.CountError = func(name string) {
		hs.errMu.Lock()
		hs.errs = append(hs.errs, name)
		hs.errMu.Unlock()
	}
	hs.s = New(h, o)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				cc := &countingConn{Conn: nc}
				tc := tls.Server(cc, cfg)
				if err := tc.Handshake(); err != nil {
					_ = tc.Close()
					return
				}
				cc.counter = &hs.writes
				hs.s.ServeConn(tc)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		hs.s.Shutdown()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("ServeConn did not return")
		}
	})
	return hs
}

// counted reports whether the server counted an error named name.
func (hs *harness) counted(name string) bool {
	hs.errMu.Lock()
	defer hs.errMu.Unlock()
	return slices.Contains(hs.errs, name)
}

// onlyConn is the server's one connection.
func (hs *harness) onlyConn(t *testing.T) *conn {
	t.Helper()
	var c *conn
	tu.WaitFor(t, "the connection to be served", 5*time.Second, func() bool {
		hs.s.mu.Lock()
		defer hs.s.mu.Unlock()
		for k := range hs.s.conns {
			c = k
		}
		return len(hs.s.conns) == 1
	})
	return c
}

// countingConn counts writes once counter is set.
type countingConn struct {
	net.Conn
	counter *atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	if c.counter != nil {
		c.counter.Add(1)
	}
	return c.Conn.Write(b)
}

// client is an HTTP/2 client connection driven frame by frame.
type client struct {
	t   *testing.T
	c   *tls.Conn
	fr  *http2.Framer
	buf bytes.Buffer
	enc *hpack.Encoder
}

// dial connects and sends the preface and, unless noSettings, an empty SETTINGS.
func dial(t *testing.T, addr string, noSettings bool, settings ...http2.Setting) *client {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "a.example", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, c: c, fr: http2.NewFramer(c, c)}
	cl.enc = hpack.NewEncoder(&cl.buf)
	cl.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	cl.fr.MaxHeaderListSize = 1 << 20
	cl.fr.AllowIllegalWrites = true
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatalf("preface: %v", err)
	}
	if !noSettings {
		if err := cl.fr.WriteSettings(settings...); err != nil {
			t.Fatalf("settings: %v", err)
		}
	}
	return cl
}

// block encodes a header block from name/value pairs.
func (cl *client) block(kv ...string) []byte {
	cl.buf.Reset()
	for i := 0; i+1 < len(kv); i += 2 {
		_ = cl.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(cl.buf.Bytes())
}

// request sends a request's HEADERS: method and path, then extra pairs.
func (cl *client) request(id uint32, method, path string, end bool, extra ...string) {
	cl.t.Helper()
	kv := append([]string{":method", method, ":scheme", "https", ":authority", "a.example", ":path", path}, extra...)
	if err := cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: cl.block(kv...),
		EndStream: end, EndHeaders: true}); err != nil {
		cl.t.Fatal(err)
	}
}

// next reads frames until match returns true (nil error) or the connection ends (its error).
// It acknowledges the server's SETTINGS.
func (cl *client) next(within time.Duration, match func(http2.Frame) bool) error {
	return tu.NextFrame(cl.c, cl.fr, within, match)
}

// response is what the client read of one stream.
type response struct {
	status string
	body   []byte
	ended  bool
	reset  *http2.RSTStreamFrame
}

// responses reads until each of ids ended or was reset.
func (cl *client) responses(ids ...uint32) map[uint32]*response {
	cl.t.Helper()
	got := make(map[uint32]*response)
	for _, id := range ids {
		got[id] = &response{}
	}
	left := len(ids)
	err := cl.next(10*time.Second, func(f http2.Frame) bool {
		r := got[f.Header().StreamID]
		if r == nil {
			return false
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			r.status = f.PseudoValue("status")
			r.ended = f.StreamEnded()
		case *http2.DataFrame:
			r.body = append(r.body, f.Data()...)
			r.ended = f.StreamEnded()
		case *http2.RSTStreamFrame:
			r.reset = f
		}
		if r.ended || r.reset != nil {
			left--
		}
		return left == 0
	})
	if err != nil {
		cl.t.Fatalf("reading responses: %v", err)
	}
	return got
}

// end reads until the server ends the connection and returns its GOAWAY (nil if none came).
func (cl *client) end() *http2.GoAwayFrame {
	cl.t.Helper()
	var ga *http2.GoAwayFrame
	err := cl.next(10*time.Second, func(f http2.Frame) bool {
		if g, ok := f.(*http2.GoAwayFrame); ok {
			ga = g
		}
		return false
	})
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		cl.t.Fatalf("the connection was not ended (GOAWAY %v)", ga)
	}
	return ga
}

// echo answers with the path and the size of the body it read.
func echo(ctx *fasthttp.RequestCtx) {
	n := 0
	if bs := ctx.RequestBodyStream(); bs != nil {
		m, _ := io.Copy(io.Discard, bs)
		n = int(m)
	}
	fmt.Fprintf(ctx, "%s %d", ctx.Path(), n)
}

// TestFlushBatching: the responses of streams that are ready while another writer is pending
// leave in one write, by the last writer out.
func TestFlushBatching(t *testing.T) {
	const n = 5
	release := make(chan struct{})
	var started atomic.Int32
	hs := startServer(t, func(ctx *fasthttp.RequestCtx) {
		started.Add(1)
		<-release
		ctx.SetBodyString("ok " + string(ctx.Path()))
	}, Options{})
	cl := dial(t, hs.addr, false)
	var ids []uint32
	for i := range uint32(n) {
		id := 2*i + 1
		ids = append(ids, id)
		cl.request(id, "GET", "/"+strconv.Itoa(int(id)), true)
	}
	tu.WaitFor(t, "every handler to start", 5*time.Second, func() bool { return started.Load() == n })
	c := hs.onlyConn(t)
	// The SETTINGS exchange is flushed by now: the handlers started after the reader took
	// the client's SETTINGS and acknowledged it.
	tu.WaitFor(t, "the server's SETTINGS ACK", 5*time.Second, func() bool {
		c.wmu.Lock()
		defer c.wmu.Unlock()
		return c.bw == nil && c.pending.Load() == 0
	})
	c.pending.Add(1) // a writer on its way: the handlers leave the flush to it
	before := hs.writes.Load()
	close(release)
	tu.WaitFor(t, "every handler to write its response", 5*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.handlers == 0
	})
	if w := hs.writes.Load() - before; w != 0 {
		t.Fatalf("%d writes while a writer was pending", w)
	}
	c.wmu.Lock()
	c.unlockWrite() // the pending writer leaves, with nothing of its own
	if w := hs.writes.Load() - before; w != 1 {
		t.Errorf("%d writes for %d responses, want 1", w, n)
	}
	got := cl.responses(ids...)
	for _, id := range ids {
		r := got[id]
		if want := "ok /" + strconv.Itoa(int(id)); r.status != "200" || string(r.body) != want {
			t.Errorf("stream %d: %s %q, want 200 %q", id, r.status, r.body, want)
		}
	}
}

// TestFlowControl: a body larger than every window goes up, the server granting window as the
// handler reads; bodies larger than the client's windows come down, the server never sending
// past what the client granted.
func TestFlowControl(t *testing.T) {
	const size = 3 << 20
	pattern := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	hs := startServer(t, func(ctx *fasthttp.RequestCtx) {
		switch string(ctx.Path()) {
		case "/down":
			ctx.SetBody(pattern)
		case "/downstream":
			ctx.SetBodyStream(bytes.NewReader(pattern), -1)
		default:
			echo(ctx)
		}
	}, Options{})

	t.Run("up", func(t *testing.T) {
		cl := dial(t, hs.addr, false)
		cl.request(1, "POST", "/up", false)
		// The client's view of the server's windows: the defaults until its SETTINGS and
		// WINDOW_UPDATEs open them.
		connWin, streamWin := int64(65535), int64(65535)
		sent := 0
		var resp *response
		for sent < size {
			n := int(min(int64(size-sent), 16384, connWin, streamWin))
			if n > 0 {
				if err := cl.fr.WriteData(1, sent+n == size, pattern[sent:sent+n]); err != nil {
					t.Fatal(err)
				}
				sent += n
				connWin -= int64(n)
				streamWin -= int64(n)
				continue
			}
			if err := cl.next(10*time.Second, func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.SettingsFrame:
					if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
						streamWin += int64(v) - 65535
						return true
					}
				case *http2.WindowUpdateFrame:
					if f.StreamID == 0 {
						connWin += int64(f.Increment)
					} else {
						streamWin += int64(f.Increment)
					}
					return true
				case *http2.RSTStreamFrame, *http2.GoAwayFrame:
					t.Fatalf("upload ended by %v", f)
				}
				return false
			}); err != nil {
				t.Fatalf("waiting for window after %d bytes: %v", sent, err)
			}
		}
		resp = cl.responses(1)[1]
		if want := fmt.Sprintf("/up %d", size); resp.status != "200" || string(resp.body) != want {
			t.Errorf("%s %q, want 200 %q", resp.status, resp.body, want)
		}
	})
	for _, path := range []string{"/down", "/downstream"} {
		t.Run(path, func(t *testing.T) {
			const streamWin = 16 << 10
			cl := dial(t, hs.addr, false, http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWin})
			cl.request(1, "GET", path, true)
			connLeft, streamLeft := int64(65535), int64(streamWin)
			var body []byte
			err := cl.next(20*time.Second, func(f http2.Frame) bool {
				d, ok := f.(*http2.DataFrame)
				if !ok {
					if _, rst := f.(*http2.RSTStreamFrame); rst {
						t.Fatalf("reset: %v", f)
					}
					return false
				}
				n := int64(d.Length)
				if connLeft -= n; connLeft < 0 {
					t.Fatalf("server sent %d bytes past the connection window", -connLeft)
				}
				if streamLeft -= n; streamLeft < 0 {
					t.Fatalf("server sent %d bytes past the stream window", -streamLeft)
				}
				body = append(body, d.Data()...)
				if n > 0 {
					// Consume, then grant the same again, as a client reading slowly.
					_ = cl.fr.WriteWindowUpdate(0, uint32(n))
					_ = cl.fr.WriteWindowUpdate(1, uint32(n))
					connLeft += n
					streamLeft += n
				}
				return d.StreamEnded()
			})
			if err != nil {
				t.Fatalf("after %d bytes: %v", len(body), err)
			}
			if !bytes.Equal(body, pattern) {
				t.Errorf("%d bytes, want %d of the pattern", len(body), len(pattern))
			}
		})
	}
}

// TestConnectionErrors: frames that break the protocol end the connection with GOAWAY and the
// right code, and are counted.
func TestConnectionErrors(t *testing.T) {
	release := make(chan struct{})
	hs := startServer(t, func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/hold" {
			<-release
		}
		echo(ctx)
	}, Options{})
	t.Cleanup(func() { close(release) }) // before the server's cleanup: handlers return
	tests := []struct {
		name       string
		noSettings bool
		send       func(cl *client)
		want       http2.ErrCode
		counted    string
	}{
		{name: "stream ids going backwards", send: func(cl *client) {
			cl.request(5, "GET", "/", true)
			cl.request(3, "GET", "/", true)
		}, want: http2.ErrCodeProtocol, counted: "stream_went_down"},
		{name: "even stream id", send: func(cl *client) { cl.request(2, "GET", "/", true) },
			want: http2.ErrCodeProtocol, counted: "headers_even"},
		{name: "first frame not SETTINGS", noSettings: true, send: func(cl *client) { _ = cl.fr.WritePing(false, [8]byte{}) },
			want: http2.ErrCodeProtocol, counted: "first_settings"},
		{name: "SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1", send: func(cl *client) {
			_ = cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}, want: http2.ErrCodeFlowControl},
		{name: "SETTINGS_MAX_FRAME_SIZE too small", send: func(cl *client) {
			_ = cl.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 100})
		}, want: http2.ErrCodeProtocol},
		{name: "SETTINGS_ENABLE_PUSH 2", send: func(cl *client) {
			_ = cl.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})
		}, want: http2.ErrCodeProtocol},
		{name: "SETTINGS with duplicates", send: func(cl *client) {
			_ = cl.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 20000},
				http2.Setting{ID: http2.SettingMaxFrameSize, Val: 30000})
		}, want: http2.ErrCodeProtocol, counted: "settings_big_or_dups"},
		{name: "unexpected SETTINGS ACK", send: func(cl *client) {
			_ = cl.fr.WriteSettingsAck()
			_ = cl.fr.WriteSettingsAck()
		}, want: http2.ErrCodeProtocol, counted: "ack_mystery"},
		{name: "DATA on an idle stream", send: func(cl *client) { _ = cl.fr.WriteData(7, true, []byte("x")) },
			want: http2.ErrCodeProtocol, counted: "data_on_idle"},
		{name: "WINDOW_UPDATE on an idle stream", send: func(cl *client) { _ = cl.fr.WriteWindowUpdate(7, 10) },
			want: http2.ErrCodeProtocol},
		{name: "RST_STREAM on an idle stream", send: func(cl *client) { _ = cl.fr.WriteRSTStream(7, http2.ErrCodeCancel) },
			want: http2.ErrCodeProtocol, counted: "reset_idle_stream"},
		{name: "PUSH_PROMISE", send: func(cl *client) {
			_ = cl.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: cl.block(":method", "GET"), EndHeaders: true})
		}, want: http2.ErrCodeProtocol},
		{name: "DATA past the connection window", send: func(cl *client) {
			cl.request(1, "POST", "/hold", false)
			chunk := make([]byte, 16384)
			for range connWindow/len(chunk) + 2 {
				if cl.fr.WriteData(1, false, chunk) != nil {
					return
				}
			}
		}, want: http2.ErrCodeFlowControl, counted: "flow_on_data_length"},
		{name: "SETTINGS_INITIAL_WINDOW_SIZE change past an open stream's 2^31-1", send: func(cl *client) {
			cl.request(1, "GET", "/hold", true)
			_ = cl.fr.WriteWindowUpdate(1, 1<<31-1-65535) // the stream's window at the maximum
			_ = cl.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65536})
		}, want: http2.ErrCodeFlowControl, counted: "setting_win_size"},
		{name: "frame larger than SETTINGS_MAX_FRAME_SIZE", send: func(cl *client) {
			cl.request(1, "POST", "/hold", false)
			_ = cl.fr.WriteData(1, false, make([]byte, 20000))
		}, want: http2.ErrCodeFrameSize, counted: "frame_too_large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := dial(t, hs.addr, tt.noSettings)
			tt.send(cl)
			ga := cl.end()
			if ga == nil || ga.ErrCode != tt.want {
				t.Fatalf("GOAWAY %v, want %v", ga, tt.want)
			}
			if tt.counted != "" && !hs.counted(tt.counted) {
				t.Errorf("%q not counted: %v", tt.counted, hs.errs)
			}
		})
	}
}

// TestStreamErrors: a malformed request resets its stream (PROTOCOL_ERROR) and the connection
// goes on serving.
func TestStreamErrors(t *testing.T) {
	hs := startServer(t, echo, Options{})
	tests := []struct {
		name string
		send func(cl *client, id uint32)
		want http2.ErrCode
	}{
		{"no :path", func(cl *client, id uint32) {
			_ = cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true,
				BlockFragment: cl.block(":method", "GET", ":scheme", "https", ":authority", "a.example")})
		}, http2.ErrCodeProtocol},
		{"no :scheme", func(cl *client, id uint32) {
			_ = cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true,
				BlockFragment: cl.block(":method", "GET", ":path", "/", ":authority", "a.example")})
		}, http2.ErrCodeProtocol},
		{":status in a request", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, ":status", "200") }, http2.ErrCodeProtocol},
		{"a space in :path", func(cl *client, id uint32) { cl.request(id, "GET", "/a b", true) }, http2.ErrCodeProtocol},
		{"connection field", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, "connection", "close") }, http2.ErrCodeProtocol},
		{"transfer-encoding field", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, "transfer-encoding", "chunked") }, http2.ErrCodeProtocol},
		{"te other than trailers", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, "te", "gzip") }, http2.ErrCodeProtocol},
		{"uppercase field name", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, "X-Up", "1") }, http2.ErrCodeProtocol},
		{"a name that is not a token", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, "x(y", "1") }, http2.ErrCodeProtocol},
		{"a NUL in a value", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, "x-a", "a\x00b") }, http2.ErrCodeProtocol},
		{"a pseudo-header field after a regular one", func(cl *client, id uint32) {
			cl.request(id, "GET", "/", true, "x-a", "1", ":protocol", "websocket")
		}, http2.ErrCodeProtocol},
		{"repeated :path", func(cl *client, id uint32) { cl.request(id, "GET", "/", true, ":path", "/b") }, http2.ErrCodeProtocol},
		{"unknown pseudo-header field", func(cl *client, id uint32) {
			_ = cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true,
				BlockFragment: cl.block(":method", "GET", ":scheme", "https", ":path", "/", ":x", "1")})
		}, http2.ErrCodeProtocol},
		{"more DATA than Content-Length", func(cl *client, id uint32) {
			cl.request(id, "POST", "/", false, "content-length", "3")
			_ = cl.fr.WriteData(id, true, []byte("hello"))
		}, http2.ErrCodeProtocol},
		{"trailers without END_STREAM", func(cl *client, id uint32) {
			cl.request(id, "POST", "/", false)
			_ = cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true, BlockFragment: cl.block("x-t", "1")})
		}, http2.ErrCodeProtocol},
	}
	cl := dial(t, hs.addr, false)
	id := uint32(1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.send(cl, id)
			r := cl.responses(id)[id]
			if r.reset == nil || r.reset.ErrCode != tt.want {
				t.Errorf("stream %d: %s %q reset %v, want RST_STREAM %v", id, r.status, r.body, r.reset, tt.want)
			}
			id += 2
			cl.request(id, "GET", "/next", true)
			if r := cl.responses(id)[id]; r.status != "200" || string(r.body) != "/next 0" {
				t.Errorf("the next stream: %s %q", r.status, r.body)
			}
			id += 2
		})
	}
	t.Run("trailers end the body", func(t *testing.T) {
		cl.request(id, "POST", "/t", false)
		_ = cl.fr.WriteData(id, false, []byte("abc"))
		_ = cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true, BlockFragment: cl.block("x-t", "1")})
		if r := cl.responses(id)[id]; r.status != "200" || string(r.body) != "/t 3" {
			t.Errorf("%s %q, want 200 \"/t 3\"", r.status, r.body)
		}
	})
}

// TestRefusedStream: a stream past MaxConcurrentStreams is refused; the open ones are served.
func TestRefusedStream(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	hs := startServer(t, func(ctx *fasthttp.RequestCtx) {
		started.Add(1)
		<-release
		echo(ctx)
	}, Options{MaxConcurrentStreams: 2})
	cl := dial(t, hs.addr, false)
	cl.request(1, "GET", "/a", true)
	cl.request(3, "GET", "/b", true)
	tu.WaitFor(t, "two handlers to start", 5*time.Second, func() bool { return started.Load() == 2 })
	cl.request(5, "GET", "/c", true)
	if r := cl.responses(5)[5]; r.reset == nil || r.reset.ErrCode != http2.ErrCodeRefusedStream {
		t.Errorf("stream 5: %s reset %v, want REFUSED_STREAM", r.status, r.reset)
	}
	close(release)
	got := cl.responses(1, 3)
	if got[1].status != "200" || got[3].status != "200" {
		t.Errorf("open streams: %s, %s", got[1].status, got[3].status)
	}
}

// TestShutdownDrains: Shutdown sends GOAWAY naming the last stream taken; the open streams
// finish, a newer one is not served, then the connection closes and ServeConn returns.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	var started atomic.Int32
	hs := startServer(t, func(ctx *fasthttp.RequestCtx) {
		started.Add(1)
		<-release
		echo(ctx)
	}, Options{})
	cl := dial(t, hs.addr, false)
	cl.request(1, "GET", "/a", true)
	cl.request(3, "GET", "/b", true)
	tu.WaitFor(t, "two handlers to start", 5*time.Second, func() bool { return started.Load() == 2 })
	hs.s.Shutdown()
	var ga *http2.GoAwayFrame
	if err := cl.next(10*time.Second, func(f http2.Frame) bool { ga, _ = f.(*http2.GoAwayFrame); return ga != nil }); err != nil {
		t.Fatalf("no GOAWAY: %v", err)
	}
	if ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 3 {
		t.Errorf("GOAWAY %v last %d, want NO_ERROR 3", ga.ErrCode, ga.LastStreamID)
	}
	cl.request(5, "GET", "/late", true)
	close(release)
	got := cl.responses(1, 3)
	if string(got[1].body) != "/a 0" || string(got[3].body) != "/b 0" {
		t.Errorf("open streams: %q, %q", got[1].body, got[3].body)
	}
	served := false
	_ = cl.next(10*time.Second, func(f http2.Frame) bool { served = served || f.Header().StreamID == 5; return false })
	if served || started.Load() != 2 {
		t.Errorf("stream 5, opened after GOAWAY, was served")
	}
	tu.WaitFor(t, "the connection to be done", 10*time.Second, func() bool {
		hs.s.mu.Lock()
		defer hs.s.mu.Unlock()
		return len(hs.s.conns) == 0
	})
}

// TestPingAndIdle: PING is answered with its data; a connection without streams for
// IdleTimeout gets GOAWAY and is closed.
func TestPingAndIdle(t *testing.T) {
	hs := startServer(t, echo, Options{IdleTimeout: 300 * time.Millisecond})
	cl := dial(t, hs.addr, false)
	data := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	if err := cl.fr.WritePing(false, data); err != nil {
		t.Fatal(err)
	}
	var ack *http2.PingFrame
	if err := cl.next(5*time.Second, func(f http2.Frame) bool { ack, _ = f.(*http2.PingFrame); return ack != nil }); err != nil {
		t.Fatal(err)
	}
	if !ack.IsAck() || ack.Data != data {
		t.Errorf("PING answered with %v", ack)
	}
	cl.request(1, "GET", "/", true)
	cl.responses(1)
	if ga := cl.end(); ga == nil || ga.ErrCode != http2.ErrCodeNo {
		t.Errorf("idle connection ended with GOAWAY %v, want NO_ERROR", ga)
	}
}

// TestShutdownBeforePreface: a connection that has not sent its preface when Shutdown comes
// is closed without a frame (GOAWAY may not come before the server's SETTINGS).
func TestShutdownBeforePreface(t *testing.T) {
	hs := startServer(t, echo, Options{})
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", hs.addr,
		&tls.Config{ServerName: "a.example", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hs.onlyConn(t)
	hs.s.Shutdown()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(make([]byte, 64))
	var ne net.Error
	if n != 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Errorf("read %d bytes, %v; want the connection closed", n, err)
	}
}

// TestHeaderBlocks: a header list split over HEADERS and CONTINUATION frames, longer than the
// fields a Stream holds inline, reaches the handler whole, on consecutive streams of one
// connection (the reader reuses its list; the second block is mostly HPACK table indexes).
func TestHeaderBlocks(t *testing.T) {
	hs := startServer(t, func(ctx *fasthttp.RequestCtx) {
		var b []byte
		for k, v := range ctx.Request.Header.All() {
			b = fmt.Appendf(b, "%s=%s;", k, v)
		}
		ctx.SetBody(b)
	}, Options{})
	cl := dial(t, hs.addr, false)
	var kv []string
	want := "Host=a.example;"
	for i := range 20 {
		kv = append(kv, fmt.Sprintf("x-f%02d", i), fmt.Sprint(i))
		want += fmt.Sprintf("X-F%02d=%d;", i, i)
	}
	for _, id := range []uint32{1, 3} {
		blk := cl.block(append([]string{":method", "GET", ":scheme", "https", ":authority", "a.example", ":path", "/"}, kv...)...)
		half := len(blk) / 2
		if err := cl.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, BlockFragment: blk[:half]}); err != nil {
			t.Fatal(err)
		}
		if err := cl.fr.WriteContinuation(id, true, blk[half:]); err != nil {
			t.Fatal(err)
		}
		if r := cl.responses(id)[id]; r.status != "200" || string(r.body) != want {
			t.Errorf("stream %d: %s %q, want 200 %q", id, r.status, r.body, want)
		}
	}
}
