package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// waitFor is the generous deadline for anything a test waits on (other builds share the CPU).
const waitFor = 20 * time.Second

// poll waits for cond, failing the test after waitFor.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.WaitFor(t, what, waitFor, cond)
}

// harness is a Proxy on a loopback socket, serving routes built from etcd key-value pairs.
type harness struct {
	p    *Proxy
	addr string // host:port
	base string // http://host:port
}

// start runs a Proxy with opts and a registry with regOpts (its Client hook chained after the
// proxy's ConfigureClient) over the routes in kvs (key, JSON value, key, JSON value, ...).
func start(t testing.TB, opts Options, regOpts upstream.Options, kvs ...string) *harness {
	t.Helper()
	p := New(opts)
	hook := regOpts.Client
	regOpts.Client = func(c *fasthttp.HostClient) {
		p.ConfigureClient(c)
		if hook != nil {
			hook(c)
		}
	}
	b, err := snapshot.NewBuilder(snapshot.Options{Registry: upstream.NewRegistry(regOpts), Logger: slog.New(slog.DiscardHandler),
		Metrics: opts.Metrics})
	if err != nil {
		t.Fatal(err)
	}
	st := &state.State{}
	m := map[string]state.KV{}
	for i := 0; i+1 < len(kvs); i += 2 {
		st.Revision++
		m[kvs[i]] = state.KV{Key: kvs[i], Value: []byte(kvs[i+1]), ModRevision: st.Revision}
	}
	st.KVs = state.NewKVs(m)
	snap, err := b.Build(st)
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) > 0 && snap.Counts.Routes == 0 {
		t.Fatalf("no route accepted from %q", kvs)
	}
	p.Store(snap)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close() })
	return &harness{p: p, addr: ln.Addr().String(), base: "http://" + ln.Addr().String()}
}

// serveProxy runs a Proxy with default options over the routes in kvs.
func serveProxy(t *testing.T, kvs ...string) (string, *Proxy) {
	t.Helper()
	h := start(t, Options{}, upstream.Options{}, kvs...)
	return h.base, h.p
}

// route is a route JSON for uri with an inline upstream of nodes and extra top-level and
// upstream fields (JSON members without braces, may be empty). A node is "host:port" (weight 1)
// or "host:port@priority": higher priorities are tried first, which makes the first try's node
// certain.
func route(uri, routeExtra, upstreamExtra string, nodes ...string) string {
	var b strings.Builder
	for i, n := range nodes {
		if i > 0 {
			b.WriteByte(',')
		}
		n, prio, _ := strings.Cut(n, "@")
		if prio == "" {
			prio = "0"
		}
		host, port, _ := net.SplitHostPort(n)
		fmt.Fprintf(&b, `{"host":%q,"port":%s,"weight":1,"priority":%s}`, host, port, prio)
	}
	up := `"nodes":[` + b.String() + `]`
	if upstreamExtra != "" {
		up += "," + upstreamExtra
	}
	r := fmt.Sprintf(`{"uri":%q,"upstream":{%s}`, uri, up)
	if routeExtra != "" {
		r += "," + routeExtra
	}
	return r + "}"
}

// backend is a real upstream on loopback.
func backend(t testing.TB, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: waitFor}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// counted wraps h, counting the requests it serves.
func countRequests(n *atomic.Int64, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h(w, r)
	}
}

func echo(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		w.Header().Set("Connection", "X-Secret-Hop")
		w.Header().Set("X-Secret-Hop", "should not reach the client")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Server", "upstream-server")
		body, _ := io.ReadAll(r.Body)
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s %s host=%s body=%d\n", name, r.Method, r.RequestURI, r.Host, len(body))
		for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "X-Forwarded-Proto", "X-Forwarded-Host",
			"X-Forwarded-Port", "Forwarded", "X-Hop", "Te", "Proxy-Connection", "Upgrade", "Expect",
			"Content-Type", "Content-Length", "Transfer-Encoding"} {
			fmt.Fprintf(&b, "%s=%s\n", h, r.Header.Get(h))
		}
		fmt.Fprintf(&b, "TE=%v\n", r.TransferEncoding)
		_, _ = io.WriteString(w, b.String())
	}
}

// deadAddr is a loopback address where nothing listens.
func deadAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// rawBackend accepts connections and hands each to fn, counting them.
func rawBackend(t testing.TB, accepted *atomic.Int64, fn func(c net.Conn)) string {
	t.Helper()
	return testutil.RawBackend(t, accepted, waitFor, fn)
}

// readRequestHead reads one request head from br and returns its Content-Length (0 if none).
var readRequestHead = testutil.ReadRequestHead

func do(t testing.TB, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := (&http.Client{Timeout: waitFor}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return do(t, req)
}

// rawExchange writes raw to the proxy on a new connection and reads the answer until the proxy
// closes the connection or waitFor passes. It returns the status (0 if none came) and the
// whole answer.
func rawExchange(t testing.TB, addr, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return statusOf(string(b)), string(b)
}

// statusOf parses the status code of a raw HTTP response, after any 100 Continue.
func statusOf(resp string) int {
	resp = strings.TrimPrefix(resp, "HTTP/1.1 100 Continue\r\n\r\n")
	_, rest, ok := strings.Cut(resp, " ")
	if !ok || len(rest) < 3 {
		return 0
	}
	code, _ := strconv.Atoi(rest[:3])
	return code
}
