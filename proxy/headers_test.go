package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/zoneproxy/zoneproxy/upstream"
)

func TestPassHost(t *testing.T) {
	addr := backend(t, echo("b"))
	_, port, _ := net.SplitHostPort(addr)
	h := start(t, Options{}, upstream.Options{},
		"/apisix/routes/pass", route("/pass", "", `"pass_host":"pass"`, addr),
		"/apisix/routes/node", route("/node", "", `"pass_host":"node"`, addr),
		"/apisix/routes/rewrite", route("/rewrite", "", `"pass_host":"rewrite","upstream_host":"api.internal"`, addr),
	)
	tests := []struct {
		path, want string
	}{
		{"/pass", "host=Client.Example:8080"},
		{"/node", "host=127.0.0.1:" + port},
		{"/rewrite", "host=api.internal"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, h.base+tt.path, nil)
			req.Host = "Client.Example:8080"
			resp, body := do(t, req)
			if resp.StatusCode != 200 || !strings.Contains(body, tt.want+" ") {
				t.Errorf("upstream saw\n%s\nwant %q", body, tt.want)
			}
			// X-Forwarded-Host is the client's Host as sent, whatever pass_host does.
			if !strings.Contains(body, "X-Forwarded-Host=Client.Example:8080\n") {
				t.Errorf("upstream saw\n%s\nwant X-Forwarded-Host=Client.Example:8080", body)
			}
		})
	}
}

func TestRequestRewrite(t *testing.T) {
	addr := backend(t, echo("b"))
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	tests := []struct {
		name string
		raw  string
		want []string // lines the upstream must have seen
	}{
		{"HTTP/1.0 client", "GET /a HTTP/1.0\r\nHost: x\r\n\r\n", []string{"b GET /a host=x"}},
		{"Expect is answered, not forwarded",
			"POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
			[]string{"b POST /e host=x body=3", "Expect=\n", "Content-Type=\n"}},
		{"raw request URI kept", "GET /a/../b//c?x=%2F HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			[]string{"b GET /a/../b//c?x=%2F host=x"}},
		{"absolute-form becomes origin-form", "GET http://x/abs?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
			[]string{"b GET /abs?q=1 host=x"}},
		{"Upgrade stripped without enable_websocket",
			"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade, close\r\n\r\n",
			[]string{"b GET /ws host=x", "Upgrade=\n"}},
		{"TE and Trailer stripped", "GET /te HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nTrailer: X-T\r\nConnection: close\r\n\r\n",
			[]string{"Te=\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp := rawExchange(t, h.addr, tt.raw)
			if code != 200 {
				t.Fatalf("got %q", resp)
			}
			for _, w := range tt.want {
				if !strings.Contains(resp, w) {
					t.Errorf("upstream saw\n%s\nwant %q", resp, w)
				}
			}
		})
	}
}

func TestResponseHeaders(t *testing.T) {
	addr := backend(t, echo("b"))
	h := start(t, Options{ServerName: "zoneproxy/test"}, upstream.Options{}, "/apisix/routes/1", route("/", "", "", addr))
	resp, _ := get(t, h.base+"/")
	if got := resp.Header.Values("Server"); len(got) != 1 || got[0] != "zoneproxy/test" {
		t.Errorf("Server %q, want only the proxy's", got)
	}
	for _, hop := range []string{"Keep-Alive", "X-Secret-Hop"} {
		if v := resp.Header.Get(hop); v != "" {
			t.Errorf("%s: %q reached the client", hop, v)
		}
	}
	if resp.Header.Get("X-Backend") != "b" {
		t.Errorf("end-to-end header lost: %v", resp.Header)
	}
	if len(resp.Header.Values("Date")) != 1 {
		t.Errorf("Date %q, want exactly one", resp.Header.Values("Date"))
	}

	// Repeated fields, cookies of one name on different paths included, pass as they are.
	multi := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Set-Cookie", "a=1; Path=/a")
		w.Header().Add("Set-Cookie", "a=2; Path=/b")
		w.Header().Add("X-Multi", "1")
		w.Header().Add("X-Multi", "2")
	}))
	h = start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/", "", "", multi))
	resp, _ = get(t, h.base+"/")
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1; Path=/a" || got[1] != "a=2; Path=/b" {
		t.Errorf("Set-Cookie %q", got)
	}
	if got := resp.Header.Values("X-Multi"); len(got) != 2 {
		t.Errorf("X-Multi %q, want both values", got)
	}
}

func TestHeadAndNoBodyStatuses(t *testing.T) {
	addr := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.WriteHeader(http.StatusNotModified)
		default:
			w.Header().Set("Content-Length", "1234")
			w.WriteHeader(200)
			if r.Method != http.MethodHead {
				_, _ = w.Write(make([]byte, 1234))
			}
		}
	}))
	h := start(t, Options{}, upstream.Options{}, "/apisix/routes/1", route("/*", "", "", addr))
	tests := []struct {
		method, path string
		want         int
		wantLength   string
	}{
		{http.MethodHead, "/big", 200, "1234"},
		{http.MethodGet, "/204", 204, ""},
		{http.MethodGet, "/304", 304, ""},
		{http.MethodGet, "/big", 200, "1234"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			// Twice on one connection: a body that was not there must not desync the next response.
			raw := tt.method + " " + tt.path + " HTTP/1.1\r\nHost: x\r\n\r\n"
			code, resp := rawExchange(t, h.addr, raw+raw[:len(raw)-2]+"Connection: close\r\n\r\n")
			if code != tt.want || strings.Count(resp, "HTTP/1.1 ") != 2 {
				t.Fatalf("got %q", resp)
			}
			if tt.wantLength != "" && !strings.Contains(resp, "Content-Length: "+tt.wantLength+"\r\n") {
				t.Errorf("got %q, want Content-Length %s", resp, tt.wantLength)
			}
		})
	}
}

// tlsBackend is an https upstream whose certificate is valid for 127.0.0.1 and example.com; it
// records the SNI of every handshake.
func tlsBackend(t *testing.T) (addr string, roots *x509.CertPool, sni func() []string) {
	var mu sync.Mutex
	var names []string
	srv := httptest.NewUnstartedServer(echo("tls"))
	srv.TLS = &tls.Config{GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		mu.Lock()
		names = append(names, hello.ServerName)
		mu.Unlock()
		return nil, nil
	}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots = x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv.Listener.Addr().String(), roots, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), names...)
	}
}

// TestHTTPSUpstream: scheme https. As in APISIX, the certificate is verified only with
// tls.verify; the SNI is the Host sent upstream (the client's under pass, upstream_host under
// rewrite, the node's name under node; never an IP address).
func TestHTTPSUpstream(t *testing.T) {
	t.Parallel()
	addr, roots, sni := tlsBackend(t)
	tests := []struct {
		name     string
		upExtra  string
		roots    *x509.CertPool
		want     int
		wantHost string
		wantSNI  string
	}{
		{"unverified by default, SNI the client's host", `"scheme":"https"`, nil, 200, "host=client.test", "client.test"},
		{"verify, SNI the client's host under pass", `"scheme":"https","tls":{"verify":true}`, roots, 502, "", "client.test"},
		{"SNI the node's name under node", `"scheme":"https","pass_host":"node"`, nil, 200, "host=127.0.0.1", ""},
		{"verify against the system roots", `"scheme":"https","tls":{"verify":true}`, nil, 502, "", "client.test"},
		{"verify, SNI from upstream_host", `"scheme":"https","tls":{"verify":true},"pass_host":"rewrite","upstream_host":"example.com"`,
			roots, 200, "host=example.com", "example.com"},
		{"verify, wrong name", `"scheme":"https","tls":{"verify":true},"pass_host":"rewrite","upstream_host":"other.test"`,
			roots, 502, "", "other.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Options{}, upstream.Options{RootCAs: tt.roots}, "/apisix/routes/1", route("/", "", tt.upExtra, addr))
			before := len(sni())
			req, _ := http.NewRequest(http.MethodGet, h.base+"/", nil)
			req.Host = "client.test"
			resp, body := do(t, req)
			if resp.StatusCode != tt.want || !strings.Contains(body, tt.wantHost) {
				t.Fatalf("got %d %q, want %d with %q", resp.StatusCode, body, tt.want, tt.wantHost)
			}
			names := sni()[before:]
			if len(names) == 0 || names[0] != tt.wantSNI {
				t.Errorf("SNI %q, want %q", names, tt.wantSNI)
			}
		})
	}
}

// TestHTTPSUpstreamPassHostSNI: under pass_host pass each client host is the server name of its
// own TLS connections (lower case, no port), verified against it; an IP host sends no SNI.
func TestHTTPSUpstreamPassHostSNI(t *testing.T) {
	t.Parallel()
	addr, roots, sni := tlsBackend(t)
	h := start(t, Options{}, upstream.Options{RootCAs: roots}, "/apisix/routes/1",
		route("/", "", `"scheme":"https","tls":{"verify":true}`, addr))
	for _, tt := range []struct {
		host, wantSNI string
		want          int
	}{
		{"Example.COM:8443", "example.com", 200},
		{"other.test", "other.test", 502}, // the certificate is not valid for it
		{"example.com", "", 200},          // the pooled connection of the first request
		{"127.0.0.1", "", 200},
	} {
		before := len(sni())
		req, _ := http.NewRequest(http.MethodGet, h.base+"/", nil)
		req.Host = tt.host
		resp, _ := do(t, req)
		if resp.StatusCode != tt.want {
			t.Fatalf("Host %s: got %d, want %d", tt.host, resp.StatusCode, tt.want)
		}
		names := sni()[before:]
		switch {
		case tt.wantSNI == "" && tt.host == "example.com":
			if len(names) != 0 {
				t.Errorf("Host %s: new handshakes %q, want the pooled connection reused", tt.host, names)
			}
		case len(names) == 0 || names[0] != tt.wantSNI:
			t.Errorf("Host %s: SNI %q, want %q", tt.host, names, tt.wantSNI)
		}
	}
}
