package h2

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// pipeConn is one end of an in-memory connection, standing for a TLS one.
type pipeConn struct{ net.Conn }

func (pipeConn) ConnectionState() tls.ConnectionState { return tls.ConnectionState{} }

// FuzzServeConn feeds arbitrary frames, after the preface, to a connection: whatever they
// are, the server must not panic, and ServeConn must return once the client is gone.
func FuzzServeConn(f *testing.F) {
	frames := func(w func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer)) []byte {
		var b, hb bytes.Buffer
		fr := http2.NewFramer(&b, nil)
		fr.AllowIllegalWrites = true
		w(fr, hpack.NewEncoder(&hb), &hb)
		return b.Bytes()
	}
	head := func(enc *hpack.Encoder, hb *bytes.Buffer, method, path string, extra ...string) []byte {
		hb.Reset()
		kv := append([]string{":method", method, ":scheme", "https", ":authority", "a.example", ":path", path}, extra...)
		for i := 0; i+1 < len(kv); i += 2 {
			_ = enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	f.Add(frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings()
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(enc, hb, "GET", "/"), EndStream: true, EndHeaders: true})
	}))
	f.Add(frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head(enc, hb, "POST", "/", "content-length", "5"), EndHeaders: true})
		_ = fr.WriteData(1, false, []byte("hel"))
		_ = fr.WriteWindowUpdate(1, 100)
		_ = fr.WriteData(1, true, []byte("lo"))
		_ = fr.WritePing(false, [8]byte{1})
		_ = fr.WriteRSTStream(1, http2.ErrCodeCancel)
	}))
	f.Add(frames(func(fr *http2.Framer, enc *hpack.Encoder, hb *bytes.Buffer) {
		_ = fr.WriteSettings()
		blk := head(enc, hb, "GET", "/", "x-a", "1", "cookie", "a=1", "cookie", "b=2")
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: blk[:4]})
		_ = fr.WriteContinuation(3, true, blk[4:])
		_ = fr.WritePriority(3, http2.PriorityParam{StreamDep: 1, Weight: 5})
		_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := New(func(ctx *fasthttp.RequestCtx) {
			if bs := ctx.RequestBodyStream(); bs != nil {
				_, _ = io.Copy(io.Discard, bs)
			}
			ctx.SetBodyString("ok")
		}, Options{SendTimeout: time.Second, IdleTimeout: time.Second})
		defer s.Shutdown()
		cc, sc := net.Pipe()
		done := make(chan struct{})
		go func() { s.ServeConn(pipeConn{sc}); close(done) }()
		go func() { _, _ = io.Copy(io.Discard, cc) }()
		_ = cc.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.WriteString(cc, http2.ClientPreface)
		_, _ = cc.Write(in)
		_ = cc.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ServeConn did not return")
		}
	})
}
