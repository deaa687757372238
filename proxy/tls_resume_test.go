package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// sessionGet is mtlsGet with a client session cache: it sends GET path on a new connection
// (reading the response also reads the session ticket, which comes first) and reports whether
// the handshake resumed.
func (h *tlsHarness) sessionGet(sni, path string, cert *tls.Certificate, cache tls.ClientSessionCache) (code int, resumed bool, err error) {
	cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true, ClientSessionCache: cache}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", h.addr, cfg)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, sni); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, c.ConnectionState().DidResume, nil
}

// anySNI is a client session cache that offers its last session whatever the name, so that a
// session of one SNI can be offered under another.
type anySNI struct {
	mu sync.Mutex
	cs *tls.ClientSessionState
}

func (a *anySNI) Get(string) (*tls.ClientSessionState, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cs, a.cs != nil
}

func (a *anySNI) Put(_ string, cs *tls.ClientSessionState) {
	if cs != nil {
		a.mu.Lock()
		a.cs = cs
		a.mu.Unlock()
	}
}

// TestTLSResumption: sessions resume as APISIX's nginx resumes them (ssl_session_tickets off:
// stateful tickets, an id into the session cache; on: stateless tickets), under the SSL object
// and SNI that made them only, and a resumed session keeps its verified client certificate.
func TestTLSResumption(t *testing.T) {
	root := tu.NewCA(t, "clients root")
	alice := clientPair(t, root, "alice")
	be := echoBackend(t)
	a, ak := tu.Cert(t, tu.ECDSA, "a.example", "b.example")
	a2, a2k := tu.Cert(t, tu.ECDSA, "a.example", "b.example")
	req, reqk := tu.Cert(t, tu.ECDSA, "req.example")
	opt, optk := tu.Cert(t, tu.ECDSA, "opt.example")
	h := startTLS(t, Options{},
		"/apisix/ssls/1", sslJSON(`"snis":["a.example","b.example"]`, a, ak),
		"/apisix/ssls/2", sslJSON(`"sni":"req.example",`+clientMember(root.PEM, -1), req, reqk),
		"/apisix/ssls/3", sslJSON(`"sni":"opt.example",`+clientMember(root.PEM, -1, "^/public/"), opt, optk),
		"/apisix/routes/1", route("/*", "", "", be))

	// get runs one request and checks its status and whether it resumed.
	get := func(t *testing.T, sni, path string, cert *tls.Certificate, cache tls.ClientSessionCache, code int, resumed bool) {
		t.Helper()
		got, did, err := h.sessionGet(sni, path, cert, cache)
		if err != nil || got != code || did != resumed {
			t.Fatalf("GET %s%s: %d resumed=%v %v; want %d resumed=%v", sni, path, got, did, err, code, resumed)
		}
	}
	for _, tickets := range []bool{false, true} {
		h.p.SetTLS(TLSOptions{SessionTickets: tickets})
		mode := map[bool]string{false: "stateful", true: "tickets"}[tickets]
		t.Run(mode+"/resumes", func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(8)
			get(t, "a.example", "/x", nil, cache, 200, false)
			get(t, "a.example", "/x", nil, cache, 200, true)
			get(t, "a.example", "/x", nil, cache, 200, true)
		})
		t.Run(mode+"/TLS 1.2 through a ticket", func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(8)
			for i, want := range []bool{false, true} {
				c, err := tls.Dial("tcp", h.addr, &tls.Config{ServerName: "a.example", InsecureSkipVerify: true,
					MaxVersion: tls.VersionTLS12, ClientSessionCache: cache})
				if err != nil {
					t.Fatal(err)
				}
				if did := c.ConnectionState().DidResume; did != want {
					t.Errorf("handshake %d: resumed %v", i+1, did)
				}
				c.Close()
			}
		})
		t.Run(mode+"/not under another SNI", func(t *testing.T) {
			cache := &anySNI{}
			get(t, "a.example", "/x", nil, cache, 200, false)
			get(t, "b.example", "/x", nil, cache, 200, false)
			get(t, "b.example", "/x", nil, cache, 200, true)
		})
		t.Run(mode+"/required client certificate kept", func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(8)
			get(t, "req.example", "/x", alice, cache, 200, false)
			// No certificate offered now: the session's verified one stands.
			get(t, "req.example", "/x", nil, cache, 200, true)
		})
		t.Run(mode+"/optional: a session without a certificate stays without", func(t *testing.T) {
			cache := tls.NewLRUClientSessionCache(8)
			get(t, "opt.example", "/public/a", nil, cache, 200, false)
			get(t, "opt.example", "/private", alice, cache, 400, true)
			verified := tls.NewLRUClientSessionCache(8)
			get(t, "opt.example", "/private", alice, verified, 200, false)
			get(t, "opt.example", "/private", nil, verified, 200, true)
		})
	}
	h.p.SetTLS(TLSOptions{})
	t.Run("certificate change", func(t *testing.T) {
		cache := tls.NewLRUClientSessionCache(8)
		get(t, "a.example", "/x", nil, cache, 200, false)
		h.put(t, "/apisix/ssls/1", sslJSON(`"snis":["a.example","b.example"]`, a2, a2k))
		get(t, "a.example", "/x", nil, cache, 200, false)
		get(t, "a.example", "/x", nil, cache, 200, true)
	})
	t.Run("optional becomes required", func(t *testing.T) {
		cache := tls.NewLRUClientSessionCache(8)
		get(t, "opt.example", "/public/a", nil, cache, 200, false)
		h.put(t, "/apisix/ssls/3", sslJSON(`"sni":"opt.example",`+clientMember(root.PEM, -1), opt, optk))
		if code, did, err := h.sessionGet("opt.example", "/public/a", nil, cache); err == nil {
			t.Errorf("a session without a certificate passed a required object: %d resumed=%v", code, did)
		}
	})
}

// TestTLSResumptionConcurrent: handshakes on several SSL objects at once share the session
// cache (run with -race).
func TestTLSResumptionConcurrent(t *testing.T) {
	be := echoBackend(t)
	kvs := []string{"/apisix/routes/1", route("/*", "", "", be)}
	for i := range 4 {
		c, k := tu.Cert(t, tu.ECDSA, fmt.Sprintf("s%d.example", i))
		kvs = append(kvs, fmt.Sprintf("/apisix/ssls/%d", i), sslJSON(fmt.Sprintf(`"sni":"s%d.example"`, i), c, k))
	}
	h := startTLS(t, Options{}, kvs...)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cache := tls.NewLRUClientSessionCache(1)
			sni := fmt.Sprintf("s%d.example", w%4)
			for i := range 6 {
				code, did, err := h.sessionGet(sni, "/x", nil, cache)
				if err != nil || code != 200 || did != (i > 0) {
					errs <- fmt.Errorf("worker %d request %d: %d resumed=%v %v", w, i, code, did, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
