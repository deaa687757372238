package router_test

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/router"
)

// TestServer routes raw requests sent over a real socket to a fasthttp
// server, so the request line and headers go through fasthttp's own
// parser: the handler answers the route id, 404 when no route matches and
// 400 when nginx would have refused the path.
func TestServer(t *testing.T) {
	tab, ids := buildTable(t, `[
		{"id":"exact","uri":"/b"},
		{"id":"host","uri":"/b","host":"*.foo.com"},
		{"id":"prefix","uri":"/static/*","methods":["GET"]},
		{"id":"port","uri":"/port","vars":[["server_port","~~","^[0-9]+$"],["remote_addr","==","127.0.0.1"]]}
	]`, "", router.ModeHostURI)
	ln := testutil.Listen(t)
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			res, ok := tab.Match(ctx)
			switch {
			case ok:
				ctx.SetBodyString(ids[res.Value])
			case router.PathRejected(ctx):
				ctx.SetStatusCode(fasthttp.StatusBadRequest)
			default:
				ctx.SetStatusCode(fasthttp.StatusNotFound)
			}
		},
	}
	testutil.Serve(t, srv, ln)

	tests := []struct {
		name, request string
		status        int
		body          string
	}{
		{"exact", "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", 200, "exact"},
		{"dot dot", "GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n", 200, "exact"},
		{"double slash", "GET //b HTTP/1.1\r\nHost: x\r\n\r\n", 200, "exact"},
		{"encoded", "GET /%62 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "exact"},
		{"wildcard host", "GET /b HTTP/1.1\r\nHost: WWW.Foo.com:9080\r\n\r\n", 200, "host"},
		{"absolute form", "GET http://a.foo.com/b HTTP/1.1\r\nHost: x\r\n\r\n", 200, "host"},
		{"prefix", "GET /static/x/../y.css?v=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200, "prefix"},
		{"HEAD is not GET", "HEAD /static/y.css HTTP/1.1\r\nHost: x\r\n\r\n", 404, ""},
		{"above root", "GET /../b HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"NUL", "GET /b%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"bad escape", "GET /b%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400, ""},
		{"server vars", "GET /port HTTP/1.1\r\nHost: x\r\n\r\n", 200, "port"},
		{"miss", "GET /c HTTP/1.1\r\nHost: x\r\n\r\n", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.Write([]byte(tt.request)); err != nil {
				t.Fatal(err)
			}
			var resp fasthttp.Response
			if tt.request[:4] == "HEAD" {
				resp.SkipBody = true
			}
			if err := resp.Read(bufio.NewReader(conn)); err != nil {
				t.Fatalf("read response: %v", err)
			}
			if resp.StatusCode() != tt.status || string(resp.Body()) != tt.body {
				t.Fatalf("%q: got %d %q, want %d %q", tt.request, resp.StatusCode(), resp.Body(), tt.status, tt.body)
			}
		})
	}
}
