package transport

import (
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestIPv6Upstream sends a request through the transport to a real upstream on [::1] (issue 20
// item 10: the dialer the transport installs on node clients must speak IPv6).
func TestIPv6Upstream(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("skipping: this machine has no IPv6 loopback ([::1]:0: %v)", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(echo), ReadHeaderTimeout: waitFor}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	tr := New(Options{})
	f := serveFront(t, tr, newPool(t, tr, nil, "", ln.Addr().String()))
	resp, body := get(t, f.base+"/v6")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "GET /v6 ") {
		t.Fatalf("got %d %q, want 200 from the [::1] upstream", resp.StatusCode, body)
	}
}
