package proxy

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// endOf reads r until the server ends the connection, and returns the GOAWAY it sent (nil if
// none) and the RST_STREAM frames it sent.
func endOf(t *testing.T, r *rawH2) (*http2.GoAwayFrame, []*http2.RSTStreamFrame) {
	t.Helper()
	var ga *http2.GoAwayFrame
	var rsts []*http2.RSTStreamFrame
	err := r.next(20*time.Second, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			ga = f
		case *http2.RSTStreamFrame:
			rsts = append(rsts, f)
		}
		return false
	})
	if transport.IsTimeout(err) {
		t.Fatalf("the connection was not ended (GOAWAY %v)", ga)
	}
	return ga, rsts
}

// stillServes checks that a new HTTP/2 connection gets an answer.
func stillServes(t *testing.T, h *tlsHarness) {
	t.Helper()
	c := h.h2Client()
	defer c.CloseIdleConnections()
	resp, err := c.Get("https://a.example/echo")
	if err != nil {
		t.Fatalf("a new connection: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("a new connection: %d", resp.StatusCode)
	}
}

// connError checks that a connection ended with a connection error: GOAWAY with code want
// when the GOAWAY was read (the server closes at once, so the client may see a reset first).
func connError(t *testing.T, ga *http2.GoAwayFrame, want ...http2.ErrCode) {
	t.Helper()
	if ga != nil && !slices.Contains(want, ga.ErrCode) {
		t.Errorf("GOAWAY %v %q, want %v", ga.ErrCode, ga.DebugData(), want)
	}
}

// TestH2Hostile: clients that break HTTP/2 lose their connection (or stream) with the right
// error; other connections are served; every connection's goroutines end.
func TestH2Hostile(t *testing.T) {
	var hits atomic.Int64
	ln := tu.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path == "/big" {
			chunk := bytes.Repeat([]byte("z"), 64<<10)
			for range 200 {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
			return
		}
		io.WriteString(w, "ok")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{SendTimeout: 2 * time.Second}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", ln.Addr().String()),
		"/apisix/routes/2", route("/big", "", "", ln.Addr().String()))
	stillServes(t, h)

	t.Run("rapid reset", func(t *testing.T) {
		const n = 5000
		before, errsBefore := hits.Load(), h.p.h2Errors.Total()
		r := dialH2(t, h.addr)
		blk := r.block("/echo")
		var err error
		for i := uint32(0); i < n && err == nil; i++ {
			id := 2*i + 1
			if err = r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk, EndStream: true, EndHeaders: true}); err == nil {
				err = r.fr.WriteRSTStream(id, http2.ErrCodeCancel)
			}
		}
		ga, _ := endOf(t, r)
		connError(t, ga, http2.ErrCodeEnhanceYourCalm)
		if got := hits.Load() - before; got > n/2 {
			t.Errorf("%d of %d reset requests reached the upstream", got, n)
		}
		tu.WaitFor(t, "the reset flood counted", 5*time.Second, func() bool { return h.p.h2Errors.Total() > errsBefore })
	})
	t.Run("CONTINUATION flood", func(t *testing.T) {
		r := dialH2(t, h.addr)
		err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: r.block("/echo"), EndStream: true})
		junk := bytes.Repeat([]byte{0x40, 0x01, 'x', 0x01, 'y'}, 3000) // literal fields x: y
		for i := 0; i < 1000 && err == nil; i++ {
			err = r.fr.WriteContinuation(1, false, junk)
		}
		ga, _ := endOf(t, r)
		connError(t, ga, http2.ErrCodeProtocol, http2.ErrCodeEnhanceYourCalm, http2.ErrCodeCompression)
	})
	t.Run("WINDOW_UPDATE past 2^31-1 on the connection", func(t *testing.T) {
		r := dialH2(t, h.addr)
		if err := r.fr.WriteWindowUpdate(0, 1<<31-1); err != nil {
			t.Fatal(err)
		}
		ga, _ := endOf(t, r)
		if ga == nil || ga.ErrCode != http2.ErrCodeFlowControl {
			t.Errorf("GOAWAY %v, want FLOW_CONTROL_ERROR", ga)
		}
	})
	t.Run("zero window", func(t *testing.T) {
		r := dialH2(t, h.addr)
		if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
			t.Fatal(err)
		}
		r.get(t, 1, "/big")
		var rst *http2.RSTStreamFrame
		// send_timeout (2 s here) resets the stream the client never lets data through.
		if err := r.next(10*time.Second, func(f http2.Frame) bool { rst, _ = f.(*http2.RSTStreamFrame); return rst != nil }); err != nil {
			t.Fatalf("no RST_STREAM: %v", err)
		}
		if rst.StreamID != 1 {
			t.Errorf("RST_STREAM on stream %d", rst.StreamID)
		}
		// The connection itself still serves.
		if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535}); err != nil {
			t.Fatal(err)
		}
		r.get(t, 3, "/echo")
		var status string
		if err := r.next(10*time.Second, func(f http2.Frame) bool {
			if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == 3 {
				status = m.PseudoValue("status")
				return true
			}
			return false
		}); err != nil || status != "200" {
			t.Errorf("stream 3 after the reset: %q %v", status, err)
		}
	})
	t.Run("WINDOW_UPDATE past 2^31-1 on a stream", func(t *testing.T) {
		r := dialH2(t, h.addr)
		if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0}); err != nil {
			t.Fatal(err)
		}
		r.get(t, 1, "/big")
		if err := r.next(10*time.Second, func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }); err != nil {
			t.Fatal(err)
		}
		_ = r.fr.WriteWindowUpdate(1, 1<<31-1)
		_ = r.fr.WriteWindowUpdate(1, 1<<31-1)
		var rst *http2.RSTStreamFrame
		if err := r.next(10*time.Second, func(f http2.Frame) bool { rst, _ = f.(*http2.RSTStreamFrame); return rst != nil }); err != nil {
			t.Fatalf("no RST_STREAM: %v", err)
		}
		if rst.StreamID != 1 || rst.ErrCode != http2.ErrCodeFlowControl {
			t.Errorf("RST_STREAM %d %v, want 1 FLOW_CONTROL_ERROR", rst.StreamID, rst.ErrCode)
		}
	})
	t.Run("oversized header list", func(t *testing.T) {
		r := dialH2(t, h.addr)
		var extra []string
		for i := range 20 {
			extra = append(extra, fmt.Sprintf("x-big-%d", i), strings.Repeat("a", 2000)) // 40 KB > 32 KiB
		}
		blk := r.block("/echo", extra...)
		err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:16000], EndStream: true})
		for off := 16000; off < len(blk) && err == nil; off += 16000 {
			end := min(off+16000, len(blk))
			err = r.fr.WriteContinuation(1, end == len(blk), blk[off:end])
		}
		if err != nil {
			t.Fatal(err)
		}
		status := func(id uint32) string {
			var st string
			if err := r.next(10*time.Second, func(f http2.Frame) bool {
				m, ok := f.(*http2.MetaHeadersFrame)
				if ok && m.StreamID == id {
					st = m.PseudoValue("status")
				}
				return st != ""
			}); err != nil {
				t.Fatalf("stream %d: %v", id, err)
			}
			return st
		}
		if st := status(1); st != "431" {
			t.Errorf("oversized header list: %s, want 431", st)
		}
		r.get(t, 3, "/echo")
		if st := status(3); st != "200" {
			t.Errorf("the next stream: %s, want 200", st)
		}
	})
	t.Run("garbage after preface", func(t *testing.T) {
		r := dialH2(t, h.addr)
		if _, err := r.c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n" + strings.Repeat("\xff", 100))); err != nil {
			t.Fatal(err)
		}
		ga, _ := endOf(t, r)
		connError(t, ga, http2.ErrCodeFrameSize, http2.ErrCodeProtocol)
	})
	stillServes(t, h)
	tu.WaitForState(t, "every HTTP/2 connection to end", 20*time.Second, func() (bool, string) {
		n := h2Conns()
		return n == 0, fmt.Sprintf("%d connections served", n)
	})
}

// h2Conns counts the HTTP/2 server connections being served, by their goroutines.
func h2Conns() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "h2.(*conn).serve(")
		}
		buf = make([]byte, 2*len(buf))
	}
}
