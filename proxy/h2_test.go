package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
)

// h2Client speaks HTTP/2 only to the harness, for any host name.
func (h *tlsHarness) h2Client() *http.Client {
	tr := &http2.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
		DialTLSContext: func(ctx context.Context, network, _ string, cfg *tls.Config) (net.Conn, error) {
			d := tls.Dialer{Config: cfg}
			return d.DialContext(ctx, network, h.addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}
}

// bodyBackend answers with what it got: method, path, framing of the body, its size and the
// forwarding headers. /big?n=N answers N bytes of a repeating pattern, chunked.
func bodyBackend(t *testing.T) string {
	t.Helper()
	ln := tu.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			var n int
			fmt.Sscan(r.URL.Query().Get("n"), &n)
			chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
			for n > 0 {
				m := min(n, len(chunk))
				if _, err := w.Write(chunk[:m]); err != nil {
					return
				}
				n -= m
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s cl=%d te=%v body=%d xfp=%s consumer=%s", r.Method, r.URL.Path, r.Proto, r.ContentLength,
			r.TransferEncoding, len(b), r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Consumer-Username"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// unsized hides a reader's length from the client, which then sends the body without
// Content-Length (HTTP/1.1: chunked; HTTP/2: DATA frames only).
type unsized struct{ io.Reader }

// TestH2SameAsH1: a route, key-auth and the access log behave the same over HTTP/2 as over
// HTTP/1.1; bodies with and without a length reach the upstream framed; large bodies flow both
// ways.
func TestH2SameAsH1(t *testing.T) {
	var out tu.Buffer
	l, err := accesslog.New(accesslog.Options{Writer: &out, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(lctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	be := bodyBackend(t)
	h := startTLS(t, Options{AccessLog: l, CountAllRequests: true}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", be),
		"/apisix/routes/2", route("/api/*", `"plugins":{"key-auth":{}}`, "", be),
		"/apisix/routes/3", route("/big", "", "", be),
		"/apisix/routes/4", route("/proto", `"vars":[["server_protocol","==","HTTP/2.0"]]`, "", be),
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`)
	big := strings.Repeat("x", 3<<20)
	type req struct {
		name, method, path, key string
		body                    io.Reader
		wantCode                int
		want                    string
	}
	reqs := func() []req {
		return []req{
			{"get", "GET", "/echo", "", nil, 200, "GET /echo HTTP/1.1 cl=0 te=[] body=0 xfp=https consumer="},
			{"post with length", "POST", "/echo", "", strings.NewReader("hello"), 200, "POST /echo HTTP/1.1 cl=5 te=[] body=5 xfp=https consumer="},
			{"post without length, small", "POST", "/echo", "", unsized{strings.NewReader("hello")}, 200,
				"POST /echo HTTP/1.1 cl=5 te=[] body=5 xfp=https consumer="},
			{"post without length, large", "POST", "/echo", "", unsized{strings.NewReader(big)}, 200,
				fmt.Sprintf("POST /echo HTTP/1.1 cl=-1 te=[chunked] body=%d xfp=https consumer=", len(big))},
			{"post with length, large", "POST", "/echo", "", strings.NewReader(big), 200,
				fmt.Sprintf("POST /echo HTTP/1.1 cl=%d te=[] body=%d xfp=https consumer=", len(big), len(big))},
			{"key-auth without key", "GET", "/api/x", "", nil, 401, ""},
			{"key-auth with key", "GET", "/api/x", "auth-one", nil, 200, "GET /api/x HTTP/1.1 cl=0 te=[] body=0 xfp=https consumer=jack"},
		}
	}
	clients := map[string]*http.Client{"HTTP/1.1": h.client(true), "HTTP/2.0": h.h2Client()}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	for _, proto := range []string{"HTTP/1.1", "HTTP/2.0"} {
		for _, r := range reqs() {
			t.Run(proto+" "+r.name, func(t *testing.T) {
				hr, _ := http.NewRequest(r.method, "https://a.example"+r.path, r.body)
				if r.key != "" {
					hr.Header.Set("apikey", r.key)
				}
				resp, err := clients[proto].Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.Proto != proto {
					t.Errorf("proto %s, want %s", resp.Proto, proto)
				}
				if resp.StatusCode != r.wantCode || (r.want != "" && string(b) != r.want) {
					t.Errorf("%d %q, want %d %q", resp.StatusCode, b, r.wantCode, r.want)
				}
				for _, f := range []string{"Connection", "Keep-Alive", "Transfer-Encoding"} {
					if proto == "HTTP/2.0" && resp.Header.Get(f) != "" {
						t.Errorf("h2 response has %s", f)
					}
				}
				if resp.Header.Get("Server") != "zoneproxy" {
					t.Errorf("Server %q", resp.Header.Get("Server"))
				}
			})
		}
		t.Run(proto+" large streamed response", func(t *testing.T) {
			const n = 8 << 20
			resp, err := clients[proto].Get(fmt.Sprintf("https://a.example/big?n=%d", n))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, err := io.Copy(io.Discard, resp.Body)
			if err != nil || got != n || resp.StatusCode != 200 {
				t.Errorf("%d: %d bytes (%v), want %d", resp.StatusCode, got, err, n)
			}
		})
	}
	resp, err := clients["HTTP/2.0"].Get("https://a.example/proto")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("route on $server_protocol HTTP/2.0: %d", resp.StatusCode)
	}
	for _, want := range []string{`"GET /echo HTTP/2.0" 200`, `"GET /echo HTTP/1.1" 200`, `"GET /api/x HTTP/2.0" 401`} {
		tu.WaitFor(t, "access log line "+want, 5*time.Second, func() bool { return strings.Contains(out.String(), want) })
	}
}

// TestH2ALPN: ALPN offers h2 then http/1.1; with apisix.enable_http2 false, http/1.1 alone.
func TestH2ALPN(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k))
	for _, tt := range []struct {
		name    string
		opts    TLSOptions
		offer   []string
		want    string
		wantErr bool
	}{
		{"h2 on", TLSOptions{}, []string{"h2", "http/1.1"}, "h2", false},
		{"h2 on, h1 client", TLSOptions{}, []string{"http/1.1"}, "http/1.1", false},
		{"enable_http2 false", TLSOptions{DisableHTTP2: true}, []string{"h2", "http/1.1"}, "http/1.1", false},
		{"enable_http2 false, h2-only client", TLSOptions{DisableHTTP2: true}, []string{"h2"}, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.p.SetTLS(tt.opts)
			cs, err := h.handshake(&tls.Config{ServerName: "a.example", NextProtos: tt.offer})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("handshake succeeded with %q", cs.NegotiatedProtocol)
				}
				return
			}
			if err != nil || cs.NegotiatedProtocol != tt.want {
				t.Errorf("negotiated %q (%v), want %q", cs.NegotiatedProtocol, err, tt.want)
			}
		})
	}
}

// rawH2 is an HTTP/2 client connection driven frame by frame.
type rawH2 struct {
	c   *tls.Conn
	fr  *http2.Framer
	buf bytes.Buffer
	enc *hpack.Encoder
}

func dialH2(t *testing.T, addr string) *rawH2 {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "a.example", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("negotiated %q", c.ConnectionState().NegotiatedProtocol)
	}
	r := &rawH2{c: c, fr: http2.NewFramer(c, c)}
	r.enc = hpack.NewEncoder(&r.buf)
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.fr.MaxHeaderListSize = 1 << 20
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatalf("preface: %v", err)
	}
	if err := r.fr.WriteSettings(); err != nil {
		t.Fatalf("settings: %v", err)
	}
	return r
}

// block encodes a request's header block: GET path, then extra name/value pairs.
func (r *rawH2) block(path string, extra ...string) []byte {
	r.buf.Reset()
	kv := append([]string{":method", "GET", ":scheme", "https", ":authority", "a.example", ":path", path}, extra...)
	for i := 0; i+1 < len(kv); i += 2 {
		_ = r.enc.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
	}
	return bytes.Clone(r.buf.Bytes())
}

func (r *rawH2) get(t *testing.T, id uint32, path string, extra ...string) {
	t.Helper()
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: r.block(path, extra...),
		EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
}

// next reads frames until match returns true (nil error) or the connection ends (its error).
// It acknowledges the server's SETTINGS.
func (r *rawH2) next(within time.Duration, match func(http2.Frame) bool) error {
	return tu.NextFrame(r.c, r.fr, within, match)
}

// TestH2GoAwayOnDrain: Shutdown sends GOAWAY at once, lets an in-flight stream complete, then
// the connection closes and Shutdown returns.
func TestH2GoAwayOnDrain(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	ln := tu.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow done")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/slow", "", "", ln.Addr().String()))
	r := dialH2(t, h.addr)
	r.get(t, 1, "/slow")
	<-started
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- h.p.Shutdown(ctx)
	}()
	var ga *http2.GoAwayFrame
	if err := r.next(10*time.Second, func(f http2.Frame) bool { ga, _ = f.(*http2.GoAwayFrame); return ga != nil }); err != nil {
		t.Fatalf("no GOAWAY: %v", err)
	}
	if ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 1 {
		t.Errorf("GOAWAY %v last stream %d, want NO_ERROR and 1", ga.ErrCode, ga.LastStreamID)
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a stream in flight", err)
	default:
	}
	close(release)
	var body []byte
	var status string
	err := r.next(10*time.Second, func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			status = f.PseudoValue("status")
		case *http2.DataFrame:
			body = append(body, f.Data()...)
			return f.StreamEnded()
		}
		return false
	})
	if err != nil || status != "200" || string(body) != "slow done" {
		t.Fatalf("in-flight stream: %s %q, %v", status, body, err)
	}
	if err := r.next(10*time.Second, func(http2.Frame) bool { return false }); err == nil || transport.IsTimeout(err) {
		t.Errorf("connection still open after its last stream: %v", err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Shutdown did not return")
	}
}

// BenchmarkH2 is a round trip over HTTP/2 through the proxy (client, proxy and upstream in this
// process): a 100-byte answer, many streams on a few connections.
func BenchmarkH2(b *testing.B) {
	ln := tu.Listen(b)
	body := bytes.Repeat([]byte("x"), 100)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(body) })}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	c, k := tu.Cert(b, tu.ECDSA, "a.example")
	h := startTLS(b, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/bench", "", "", ln.Addr().String()))
	cl := h.h2Client()
	defer cl.CloseIdleConnections()
	b.ReportAllocs()
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := cl.Get("https://a.example/bench")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// TestH2GoAwayOnNewTimeouts: when Update changes the client timeouts, open HTTP/2 connections
// get GOAWAY (as HTTP/1.1 ones get "Connection: close") and new ones are served.
func TestH2GoAwayOnNewTimeouts(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", bodyBackend(t)))
	r := dialH2(t, h.addr)
	r.get(t, 1, "/echo")
	if err := r.next(10*time.Second, func(f http2.Frame) bool { d, ok := f.(*http2.DataFrame); return ok && d.StreamEnded() }); err != nil {
		t.Fatal(err)
	}
	h.p.Update(Options{IdleTimeout: 30 * time.Second})
	var ga *http2.GoAwayFrame
	if err := r.next(10*time.Second, func(f http2.Frame) bool { ga, _ = f.(*http2.GoAwayFrame); return ga != nil }); err != nil {
		t.Fatalf("no GOAWAY: %v", err)
	}
	if ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 1 {
		t.Errorf("GOAWAY %v last stream %d, want NO_ERROR and 1", ga.ErrCode, ga.LastStreamID)
	}
	stillServes(t, h)
}

// TestH2CutBody: an upstream body cut short (small: read whole, then hijacked by the proxy;
// large: streamed) resets the stream after what arrived, so the client sees an error, not a
// complete response.
func TestH2CutBody(t *testing.T) {
	ln := tu.Listen(t)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				n, _ := c.Read(buf)
				size, sent := 1000, 10
				if strings.Contains(string(buf[:n]), "/large") {
					size, sent = 1<<20, 100<<10
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("x", sent))
			}()
		}
	}()
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/*", "", "", ln.Addr().String()))
	cl := h.h2Client()
	defer cl.CloseIdleConnections()
	for _, path := range []string{"/small", "/large"} {
		t.Run(path, func(t *testing.T) {
			resp, err := cl.Get("https://a.example" + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			n, err := io.Copy(io.Discard, resp.Body)
			if err == nil {
				t.Errorf("%d: %d bytes read without an error", resp.StatusCode, n)
			}
		})
	}
	stillServes(t, h)
}

// TestH2BodyTimeout: a stream whose body stalls longer than client_body_timeout is answered
// 408, as on HTTP/1.1, and the connection keeps serving.
func TestH2BodyTimeout(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{BodyTimeout: 500 * time.Millisecond}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", bodyBackend(t)))
	r := dialH2(t, h.addr)
	blk := r.block("/echo", "content-length", "10")
	blk[0] = 0x83 // :method POST (static table index 3) instead of GET
	if err := r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteData(1, false, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	status := func(id uint32) string {
		var st string
		if err := r.next(10*time.Second, func(f http2.Frame) bool {
			if m, ok := f.(*http2.MetaHeadersFrame); ok && m.StreamID == id {
				st = m.PseudoValue("status")
			}
			return st != ""
		}); err != nil {
			t.Fatalf("stream %d: %v", id, err)
		}
		return st
	}
	if st := status(1); st != "408" {
		t.Errorf("stalled body: %s, want 408", st)
	}
	r.get(t, 3, "/echo")
	if st := status(3); st != "200" {
		t.Errorf("the next stream: %s, want 200", st)
	}
}

// TestH2LargeBodiesStream: 32 MiB up (no length) and 32 MiB down go through without the proxy
// holding either whole: the process's live heap grows by far less than a body.
func TestH2LargeBodiesStream(t *testing.T) {
	const size = 32 << 20
	// The upstream counts what it gets and sends zeros: it holds no body either.
	ln := tu.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.Copy(w, io.LimitReader(zeros{}, size))
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "cl=%d te=%v body=%d", r.ContentLength, r.TransferEncoding, n)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/*", "", "", ln.Addr().String()))
	// The client shares the process's heap: Go's HTTP/2 client buffers up to 4 MiB per stream
	// of what the server sent ahead of the reader, as fast as the server sends. A 256 KiB
	// window keeps the client's share out of what is measured here.
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{
		Protocols: &protos,
		HTTP2:     &http.HTTP2Config{MaxReceiveBufferPerStream: 256 << 10},
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := tls.Dialer{Config: &tls.Config{ServerName: "a.example", InsecureSkipVerify: true, NextProtos: []string{"h2"}}}
			return d.DialContext(ctx, network, h.addr)
		},
	}
	cl := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	defer cl.CloseIdleConnections()
	// The live heap, sampled after a collection: garbage not yet collected (the GC's pace
	// depends on the machine's load) is not something the proxy holds.
	live := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	base := live()
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if l := live(); l > peak.Load() {
				peak.Store(l)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	resp, err := cl.Post("https://a.example/echo", "application/octet-stream", unsized{io.LimitReader(zeros{}, size)})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("cl=-1 te=[chunked] body=%d", size); !strings.Contains(string(b), want) {
		t.Errorf("upload: %q, want %q", b, want)
	}
	resp, err = cl.Get("https://a.example/down")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n != size || err != nil || resp.Proto != "HTTP/2.0" {
		t.Errorf("download: %d bytes over %s, %v", n, resp.Proto, err)
	}
	close(stop)
	<-sampled
	grew := int64(peak.Load()) - int64(base)
	t.Logf("the live heap grew by %.1f MiB at most", float64(grew)/(1<<20))
	if grew > size/4 {
		t.Errorf("the heap grew by %d MiB moving %d MiB bodies", grew>>20, size>>20)
	}
}

type zeros struct{}

func (zeros) Read(b []byte) (int, error) { clear(b); return len(b), nil }

// metricValue is the value of the sample of name whose labels include the pairs in labels.
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					found = found || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no sample %s %v", name, labels)
	return 0
}

// TestH2Counted: an h2 connection counts once in the connection gauges, each of its streams in
// apisix_http_requests_total.
func TestH2Counted(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", bodyBackend(t)))
	accepted := metricValue(t, h.m, "apisix_http_current_connections", "state", "accepted")
	requests := metricValue(t, h.m, "apisix_http_requests_total")
	cl := h.h2Client()
	for range 3 {
		resp, err := cl.Get("https://a.example/echo")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if got := metricValue(t, h.m, "apisix_http_current_connections", "state", "accepted") - accepted; got != 1 {
		t.Errorf("%v connections accepted, want 1", got)
	}
	if got := metricValue(t, h.m, "apisix_http_requests_total") - requests; got != 3 {
		t.Errorf("%v requests counted, want 3", got)
	}
	cl.CloseIdleConnections()
	tu.WaitFor(t, "the connection to count as closed", 10*time.Second, func() bool {
		return metricValue(t, h.m, "apisix_http_current_connections", "state", "active") == 0
	})
}

// TestH2ClientStopsReading: an HTTP/2 client that opens its flow-control windows wide, asks for a
// large body and then reads nothing is disconnected after send_timeout, as nginx's send_timeout
// does: the connection's writes have a deadline even where flow control would let them go on.
func TestH2ClientStopsReading(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{SendTimeout: 300 * time.Millisecond}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/big", "", "", bodyBackend(t)))
	r := dialH2(t, h.addr)
	if err := r.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1}); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteWindowUpdate(0, 1<<31-1-65535); err != nil {
		t.Fatal(err)
	}
	r.get(t, 1, "/big?n=1073741824") // 1 GiB: far more than the sockets between us hold
	active := func() float64 { return metricValue(t, h.m, "apisix_http_current_connections", "state", "active") }
	if n := active(); n != 1 {
		t.Fatalf("%v active connections, want this one", n)
	}
	poll(t, "the proxy to close the connection of a client that reads nothing", func() bool { return active() == 0 })
}
