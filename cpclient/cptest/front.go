package cptest

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"testing"
	"time"
)

// HTTP1Front starts, in front of endpoint i, a plain HTTP/1.1 reverse proxy with TLS (no HTTP/2, so
// no gRPC), as a DP Manager that serves only etcd's HTTP/JSON gateway looks to a client, and returns
// its URL. Responses are streamed, so the gateway's /v3/watch works through it. It stops at the end
// of the test.
func (c *Cluster) HTTP1Front(t testing.TB, i int) string {
	t.Helper()
	ep := c.Endpoint(i)
	if ep == nil {
		t.Fatalf("cptest: HTTP1Front: no endpoint %d", i)
	}
	certPEM, keyPEM, err := c.ca.Issue("", []string{"127.0.0.1", "::1", "localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(ep.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.Transport = &http.Transport{
		TLSClientConfig:   c.TLSConfig(),
		ForceAttemptHTTP2: false,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
		DialContext:       (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	rp.ErrorLog = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:      rp,
		TLSConfig:    &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}},
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     nil,
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return fmt.Sprintf("https://%s", ln.Addr())
}
