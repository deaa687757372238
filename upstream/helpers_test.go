package upstream

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func mustParse(t testing.TB, js string) *Spec {
	t.Helper()
	s, err := Parse([]byte(js))
	if err != nil {
		t.Fatalf("Parse(%s): %v", js, err)
	}
	return s
}

func mustPool(t testing.TB, r *Registry, key, js string) *Pool {
	t.Helper()
	p, err := r.Pool(key, mustParse(t, js))
	if err != nil {
		t.Fatalf("Pool(%s): %v", js, err)
	}
	return p
}

// nodesJSON renders a map-form node list: hosts h0..h{n-1} on port 80 with the given weight.
func nodesJSON(n, weight int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"10.0.%d.%d:80": %d`, i/250, i%250+1, weight)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// requestCtx returns a request context from remote address ip with the given URI and headers.
func requestCtx(ip string, uri string, headers ...string) *fasthttp.RequestCtx {
	var req fasthttp.Request
	req.SetRequestURI(uri)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&req, &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000}, nil)
	return ctx
}

// hostOf maps a node to a short name: its host's last label or the whole host.
func hostOf(n *Node) string {
	if n == nil {
		return "<nil>"
	}
	return n.Host
}
