//go:build !race

package proxy

import (
	"crypto/tls"
	"testing"

	"github.com/valyala/fasthttp"

	tu "github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestClientCertCheckAllocs: the per-request mTLS check (the handshake's object by SNI, the
// Host's object, the skip regexes) allocates nothing, on a real server connection that shook
// hands with, or without, a client certificate.
func TestClientCertCheckAllocs(t *testing.T) {
	root := tu.NewCA(t, "clients")
	alice := clientPair(t, root, "alice")
	c, k := tu.Cert(t, tu.ECDSA, "opt.example")
	h := startTLS(t, Options{}, "/apisix/ssls/1", sslJSON(`"sni":"opt.example",`+clientMember(root.PEM, -1, "^/public"), c, k))
	for _, tt := range []struct {
		name string
		cert *tls.Certificate
		path string
		want int
	}{
		{"verified", alice, "/private", 0},
		{"skipped path", nil, "/public/a", 0},
		{"refused", nil, "/private", 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ln := tu.Listen(t)
			server := make(chan *tls.Conn, 1)
			go func() {
				defer close(server)
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				sc := tls.Server(conn, h.p.tlsServer)
				if sc.Handshake() == nil {
					server <- sc
				}
			}()
			cfg := &tls.Config{ServerName: "opt.example", InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12}
			if tt.cert != nil {
				cfg.Certificates = []tls.Certificate{*tt.cert}
			}
			cc, err := tls.Dial("tcp", ln.Addr().String(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			sc, ok := <-server
			if !ok {
				t.Fatal("the server side did not shake hands")
			}
			defer sc.Close()
			tc := &tlsConn{Conn: sc, p: h.p, done: true}
			tc.verifyOptional() // as tlsConn's handshake does: the object's certificate is optional
			var ctx fasthttp.RequestCtx
			ctx.Init2(tc, fasthttpLogger{h.p.log}, false)
			ctx.Request.SetRequestURI(tt.path)
			ctx.Request.Header.SetHost("opt.example:443")
			idx := h.p.Snapshot().SSL
			if got := h.p.checkClientCert(&ctx, idx); got != tt.want {
				t.Fatalf("checkClientCert = %d, want %d", got, tt.want)
			}
			if tt.want != 0 {
				return // refusing logs at Info; the log handler may allocate
			}
			if allocs := testing.AllocsPerRun(1000, func() { _ = h.p.checkClientCert(&ctx, idx) }); allocs != 0 {
				t.Errorf("%v allocations, want 0", allocs)
			}
		})
	}
}
