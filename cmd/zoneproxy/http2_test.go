package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// h2Client speaks HTTP/2 (ALPN h2, falling back to http/1.1 as browsers do) to addr for any URL.
func h2Client(addr string) *http.Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true},
		ForceAttemptHTTP2: true,
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// alpn is the protocol a handshake with addr that offers h2 and http/1.1 settles on.
func alpn(addr string) string {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "api.example.com", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		return "error: " + err.Error()
	}
	defer c.Close()
	return c.ConnectionState().NegotiatedProtocol
}

// TestHTTP2: an SSL object from etcd serves HTTP/2 to Go's client and to curl --http2;
// apisix.enable_http2: false applied with SIGHUP leaves ALPN http/1.1 alone; on shutdown a
// request in flight on an h2 connection completes.
func TestHTTP2(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	held, release := make(chan struct{}, 1), make(chan struct{})
	hold := backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		held <- struct{}{}
		<-release
		io.WriteString(w, "held")
	})
	cert, key := testutil.Cert(t, testutil.ECDSA, "api.example.com")
	ssl, _ := json.Marshal(map[string]any{"cert": cert, "key": key, "snis": []string{"api.example.com"}})
	putKV(t, cluster, "/apisix/ssls/1", string(ssl))
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	putKV(t, cluster, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/hold","upstream":{"nodes":{%q:1}}}`, hold))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	cl := h2Client(zp.https)
	defer cl.CloseIdleConnections()
	get := func(path string) (string, string, error) {
		resp, err := cl.Get("https://api.example.com" + path)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.Proto, string(b), err
	}
	testutil.WaitFor(t, "HTTPS from the control plane", 10*time.Second, func() bool {
		proto, body, err := get("/r1")
		return err == nil && proto == "HTTP/2.0" && strings.HasPrefix(body, "a GET /r1")
	})

	t.Run("curl --http2", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("curl is not installed")
		}
		if v, _ := exec.Command(curl, "--version").Output(); !strings.Contains(string(v), "HTTP2") {
			t.Skip("this curl has no HTTP/2")
		}
		_, port, _ := net.SplitHostPort(zp.https)
		out, err := exec.Command(curl, "-sS", "-k", "--http2", "--max-time", "10",
			"--resolve", "api.example.com:"+port+":127.0.0.1", "-w", " http_version=%{http_version}",
			"https://api.example.com:"+port+"/r1").CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "a GET /r1") || !strings.HasSuffix(string(out), "http_version=2") {
			t.Errorf("curl: %s (%v)", out, err)
		}
	})

	t.Run("enable_http2 false on SIGHUP", func(t *testing.T) {
		if p := alpn(zp.https); p != "h2" {
			t.Fatalf("ALPN %q before, want h2", p)
		}
		rewriteConfig(t, zp, "  enable_ipv6: false\n", "  enable_ipv6: false\n  enable_http2: false\n")
		zp.signals <- syscall.SIGHUP
		testutil.WaitFor(t, "ALPN http/1.1", 10*time.Second, func() bool { return alpn(zp.https) == "http/1.1" })
		cl.CloseIdleConnections()
		if proto, body, err := get("/r1"); err != nil || proto != "HTTP/1.1" || !strings.HasPrefix(body, "a GET /r1") {
			t.Errorf("without h2: %s %q %v", proto, body, err)
		}
		rewriteConfig(t, zp, "  enable_http2: false\n", "")
		zp.signals <- syscall.SIGHUP
		testutil.WaitFor(t, "ALPN h2 again", 10*time.Second, func() bool { return alpn(zp.https) == "h2" })
	})

	t.Run("drain", func(t *testing.T) {
		cl.CloseIdleConnections()
		type result struct {
			proto, body string
			err         error
		}
		got := make(chan result, 1)
		go func() {
			proto, body, err := get("/hold")
			got <- result{proto, body, err}
		}()
		<-held
		exited := make(chan int, 1)
		go func() { exited <- zp.stop() }()
		testutil.WaitFor(t, "the HTTPS listener to close", 10*time.Second, func() bool {
			c, err := net.DialTimeout("tcp", zp.https, time.Second)
			if err == nil {
				c.Close()
			}
			return err != nil
		})
		close(release)
		r := <-got
		if r.err != nil || r.proto != "HTTP/2.0" || r.body != "held" {
			t.Errorf("in-flight h2 request: %s %q %v", r.proto, r.body, r.err)
		}
		if code := <-exited; code != 0 {
			t.Errorf("exit code %d", code)
		}
	})
}
