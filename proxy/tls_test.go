package proxy

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// sslJSON is an SSL object with one or more cert/key pairs (cert, key, cert, key, ...) and extra
// members.
func sslJSON(extra string, pairs ...string) string {
	q := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	s := fmt.Sprintf(`{"cert":%s,"key":%s`, q(pairs[0]), q(pairs[1]))
	if len(pairs) > 2 {
		var certs, keys []string
		for i := 2; i+1 < len(pairs); i += 2 {
			certs, keys = append(certs, q(pairs[i])), append(keys, q(pairs[i+1]))
		}
		s += fmt.Sprintf(`,"certs":[%s],"keys":[%s]`, strings.Join(certs, ","), strings.Join(keys, ","))
	}
	return s + "," + extra + "}"
}

// tlsHarness is a Proxy serving HTTPS on loopback, with a builder to change its configuration.
type tlsHarness struct {
	p    *Proxy
	addr string
	port int
	b    *snapshot.Builder
	st   *state.State
	m    *metrics.Metrics
}

func startTLS(t testing.TB, opts Options, kvs ...string) *tlsHarness {
	t.Helper()
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Metrics = m
	p := New(opts)
	b, err := snapshot.NewBuilder(snapshot.Options{Registry: upstream.NewRegistry(upstream.Options{Client: p.ConfigureClient}),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h := &tlsHarness{p: p, b: b, m: m, st: &state.State{KVs: state.NewKVs(nil)}}
	h.put(t, kvs...)
	ln := tu.Listen(t)
	go func() { _ = p.ServeTLS(ln) }()
	h.addr = ln.Addr().String()
	h.port = ln.Addr().(*net.TCPAddr).Port
	return h
}

// put sets keys (deleted when the value is "") and serves the new snapshot.
func (h *tlsHarness) put(t testing.TB, kvs ...string) {
	t.Helper()
	st := &state.State{KVs: h.st.KVs, Revision: h.st.Revision}
	for i := 0; i+1 < len(kvs); i += 2 {
		st.Revision++
		if kvs[i+1] == "" {
			st.KVs = st.KVs.With(nil, []string{kvs[i]})
			continue
		}
		st.KVs = st.KVs.With([]state.KV{{Key: kvs[i], Value: []byte(kvs[i+1]), ModRevision: st.Revision}}, nil)
	}
	snap, err := h.b.Build(st)
	if err != nil {
		t.Fatal(err)
	}
	h.st = st
	h.p.Store(snap)
}

// handshake dials the harness with cfg (SNI = cfg.ServerName) and returns the connection state.
func (h *tlsHarness) handshake(cfg *tls.Config) (tls.ConnectionState, error) {
	cfg = cfg.Clone()
	cfg.InsecureSkipVerify = true
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", h.addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	return c.ConnectionState(), nil
}

func (h *tlsHarness) failures(reason string) float64 {
	return h.p.tlsFailures.Count(reason)
}

// echoBackend answers with the forwarding headers it got.
func echoBackend(t testing.TB) string {
	t.Helper()
	ln := tu.Listen(t)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "proto=%s port=%s host=%s", r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Port"), r.Host)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func leafName(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

// TestTLSSNI: the certificate of each handshake, chosen by SNI as APISIX does; no default
// certificate.
func TestTLSSNI(t *testing.T) {
	ecA, ecAk := tu.Cert(t, tu.ECDSA, "a.example")
	wild, wildk := tu.Cert(t, tu.ECDSA, "*.w.example")
	pairEC, pairECk := tu.Cert(t, tu.ECDSA, "pair.example")
	pairRSA, pairRSAk := tu.Cert(t, tu.RSA, "pair.example")
	v13, v13k := tu.Cert(t, tu.ECDSA, "v13.example")
	off, offk := tu.Cert(t, tu.ECDSA, "off.example")
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"sni":"a.example"`, ecA, ecAk),
		"/apisix/ssls/2", sslJSON(`"sni":"*.w.example"`, wild, wildk),
		"/apisix/ssls/3", sslJSON(`"sni":"pair.example"`, pairRSA, pairRSAk, pairEC, pairECk),
		"/apisix/ssls/4", sslJSON(`"sni":"v13.example","ssl_protocols":["TLSv1.3"]`, v13, v13k),
		"/apisix/ssls/5", sslJSON(`"sni":"off.example","status":0`, off, offk),
	)
	rsaOnly := []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
	tests := []struct {
		name     string
		cfg      *tls.Config
		fallback string
		want     string // the leaf's common name, or "" for a failed handshake
		reason   string // the failure counted
		key      string // "ecdsa" or "rsa", when it matters
	}{
		{name: "exact", cfg: &tls.Config{ServerName: "a.example"}, want: "a.example"},
		{name: "case and trailing dot", cfg: &tls.Config{ServerName: "A.Example."}, want: "a.example"},
		{name: "wildcard one label", cfg: &tls.Config{ServerName: "api.w.example"}, want: "*.w.example"},
		{name: "wildcard two labels fail", cfg: &tls.Config{ServerName: "x.api.w.example"}, reason: "unknown_sni"},
		{name: "unknown", cfg: &tls.Config{ServerName: "nope.example"}, reason: "unknown_sni"},
		{name: "status 0", cfg: &tls.Config{ServerName: "off.example"}, reason: "unknown_sni"},
		{name: "no SNI", cfg: &tls.Config{}, reason: "no_sni"},
		{name: "no SNI with fallback_sni", cfg: &tls.Config{}, fallback: "a.example", want: "a.example"},
		{name: "ECDSA client gets ECDSA", cfg: &tls.Config{ServerName: "pair.example"}, want: "pair.example", key: "ecdsa"},
		{name: "RSA-only client gets RSA", cfg: &tls.Config{ServerName: "pair.example", MaxVersion: tls.VersionTLS12, CipherSuites: rsaOnly},
			want: "pair.example", key: "rsa"},
		{name: "per-object TLS 1.3 with 1.3", cfg: &tls.Config{ServerName: "v13.example"}, want: "v13.example"},
		{name: "per-object TLS 1.3 refuses 1.2", cfg: &tls.Config{ServerName: "v13.example", MaxVersion: tls.VersionTLS12}, reason: "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.p.SetTLS(TLSOptions{FallbackSNI: tt.fallback})
			before := h.failures(tt.reason)
			cs, err := h.handshake(tt.cfg)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("handshake succeeded with %q", leafName(cs))
				}
				tu.WaitFor(t, "the failure counted", 5*time.Second, func() bool { return h.failures(tt.reason) == before+1 })
				return
			}
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if got := leafName(cs); got != tt.want {
				t.Errorf("certificate %q, want %q", got, tt.want)
			}
			k := cs.PeerCertificates[0].PublicKey
			switch {
			case tt.key == "ecdsa":
				if _, ok := k.(*ecdsa.PublicKey); !ok {
					t.Errorf("key %T, want ECDSA", k)
				}
			case tt.key == "rsa":
				if _, ok := k.(*rsa.PublicKey); !ok {
					t.Errorf("key %T, want RSA", k)
				}
			}
		})
	}
}

// httpsClient is a client that reaches the harness for any host name.
func (h *tlsHarness) client(keepAlive bool) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, h.addr)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		DisableKeepAlives: !keepAlive,
		ForceAttemptHTTP2: false,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func httpsGet(t *testing.T, c *http.Client, url string) (int, string, *tls.ConnectionState) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.TLS
}

// TestTLSRequests: HTTPS requests take the plain listener's path: same routes and upstreams,
// $scheme https and $server_port the TLS port (vars), X-Forwarded-Proto: https.
func TestTLSRequests(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	be := echoBackend(t)
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k),
		"/apisix/routes/1", route("/echo", "", "", be))
	h.put(t, "/apisix/routes/2", route("/scheme", fmt.Sprintf(`"vars":[["scheme","==","https"],["server_port","==","%d"]]`, h.port), "", be))
	cl := h.client(true)
	code, body, _ := httpsGet(t, cl, "https://a.example/echo")
	if want := fmt.Sprintf("proto=https port=%d host=a.example", h.port); code != 200 || body != want {
		t.Errorf("GET /echo = %d %q, want 200 %q", code, body, want)
	}
	if code, body, _ := httpsGet(t, cl, "https://a.example/scheme"); code != 200 {
		t.Errorf("route on $scheme https and $server_port: %d %q", code, body)
	}
	if code, _, _ := httpsGet(t, cl, "https://a.example/nope"); code != 404 {
		t.Errorf("no route: %d", code)
	}
}

// TestTLSRotation: a certificate changed through a build applies to the next handshake, while a
// connection opened before keeps serving.
func TestTLSRotation(t *testing.T) {
	old, oldk := tu.Cert(t, tu.ECDSA, "a.example")
	fresh, freshk := tu.Cert(t, tu.RSA, "a.example")
	be := echoBackend(t)
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, old, oldk),
		"/apisix/routes/1", route("/echo", "", "", be))
	conn, err := tls.Dial("tcp", h.addr, &tls.Config{ServerName: "a.example", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	ask := func() {
		t.Helper()
		if _, err := io.WriteString(conn, "GET /echo HTTP/1.1\r\nHost: a.example\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	ask()
	serial := conn.ConnectionState().PeerCertificates[0].SerialNumber
	h.put(t, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, fresh, freshk))
	cs, err := h.handshake(&tls.Config{ServerName: "a.example"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cs.PeerCertificates[0].PublicKey.(*rsa.PublicKey); !ok {
		t.Error("a new handshake did not get the new certificate")
	}
	ask() // the open connection keeps serving, with its own certificate
	if conn.ConnectionState().PeerCertificates[0].SerialNumber.Cmp(serial) != 0 {
		t.Error("the open connection's certificate changed")
	}
}

// TestTLSSettingsLive: SetTLS (SIGHUP) applies to new handshakes.
func TestTLSSettingsLive(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k))
	tls12 := &tls.Config{ServerName: "a.example", MaxVersion: tls.VersionTLS12}
	if _, err := h.handshake(tls12); err != nil {
		t.Fatalf("TLS 1.2: %v", err)
	}
	h.p.SetTLS(TLSOptions{MinVersion: tls.VersionTLS13})
	if _, err := h.handshake(tls12); err == nil {
		t.Error("TLS 1.2 accepted after ssl_protocols became TLSv1.3")
	}
	h.p.SetTLS(TLSOptions{CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}})
	cs, err := h.handshake(tls12)
	if err != nil || cs.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Errorf("cipher %x, %v; want the one configured", cs.CipherSuite, err)
	}
}

// TestTLSBadClients: a handshake that stalls is cut after client_header_timeout, garbage ends at
// once; both are counted and the listener keeps serving.
func TestTLSBadClients(t *testing.T) {
	c, k := tu.Cert(t, tu.ECDSA, "a.example")
	h := startTLS(t, Options{HeaderTimeout: 300 * time.Millisecond}, "/apisix/ssls/1", sslJSON(`"sni":"a.example"`, c, k))
	for _, tt := range []struct {
		name, send, reason string
	}{
		{"stalls before the ClientHello", "", "timeout"},
		{"stalls inside the ClientHello", "\x16\x03\x01\x02\x00\x01", "timeout"},
		{"garbage", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := h.failures(tt.reason)
			conn, err := net.Dial("tcp", h.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tt.send != "" {
				_, _ = io.WriteString(conn, tt.send)
			}
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(io.Discard, conn) // until the proxy closes it
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("closed after %v", d)
			}
			tu.WaitFor(t, "the failure counted", 5*time.Second, func() bool { return h.failures(tt.reason) == before+1 })
		})
	}
	if _, err := h.handshake(&tls.Config{ServerName: "a.example"}); err != nil {
		t.Errorf("a good client after the bad ones: %v", err)
	}
}
