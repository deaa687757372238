package proxy

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/proxy/transport"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestTimeoutPrecedence: route timeout > upstream timeout > the registry's default (60 s in
// APISIX). Services have no timeout in APISIX 3.x.
func TestTimeoutPrecedence(t *testing.T) {
	t.Parallel()
	slow := slowBackend(t, nil, 400*time.Millisecond)
	const (
		short = `"timeout":{"connect":2,"send":2,"read":0.1}`
		long  = `"timeout":{"connect":2,"send":2,"read":10}`
	)
	tests := []struct {
		name                string
		routeExtra, upExtra string
		registryRead        time.Duration
		want                int
	}{
		{"route short wins over upstream long", short, long, 0, 504},
		{"route long wins over upstream short", long, short, 0, 200},
		{"upstream short", "", short, 0, 504},
		{"upstream long wins over registry short", "", long, 100 * time.Millisecond, 200},
		{"registry default short", "", "", 100 * time.Millisecond, 504},
		{"registry default long", "", "", 10 * time.Second, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Options{}, upstream.Options{ReadTimeout: tt.registryRead},
				"/apisix/routes/1", route("/", tt.routeExtra, tt.upExtra, slow))
			resp, body := get(t, h.base+"/")
			if resp.StatusCode != tt.want {
				t.Errorf("got %d %q, want %d", resp.StatusCode, body, tt.want)
			}
		})
	}
}

func TestRouteTimeouts(t *testing.T) {
	reg := upstream.NewRegistry(upstream.Options{ConnectTimeout: time.Second, SendTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second})
	noTimeout, err := upstream.Parse([]byte(`{"nodes":{"127.0.0.1:1":1}}`))
	if err != nil {
		t.Fatal(err)
	}
	withTimeout, err := upstream.Parse([]byte(`{"nodes":{"127.0.0.1:1":1},"timeout":{"connect":4,"send":5,"read":6}}`))
	if err != nil {
		t.Fatal(err)
	}
	plain, err := reg.Pool("/apisix/upstreams/1", noTimeout)
	if err != nil {
		t.Fatal(err)
	}
	timed, err := reg.Pool("/apisix/upstreams/2", withTimeout)
	if err != nil {
		t.Fatal(err)
	}
	s := time.Second
	tests := []struct {
		name string
		rt   *snapshot.Route
		want transport.Timeouts
	}{
		{"registry defaults", &snapshot.Route{Pool: plain}, transport.Timeouts{Connect: s, Send: 2 * s, Read: 3 * s}},
		{"upstream", &snapshot.Route{Pool: timed}, transport.Timeouts{Connect: 4 * s, Send: 5 * s, Read: 6 * s}},
		{"route", &snapshot.Route{Pool: timed, Timeout: &snapshot.Timeout{Connect: 0.5, Send: 7, Read: 8.25}},
			transport.Timeouts{Connect: s / 2, Send: 7 * s, Read: 8*s + s/4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := routeTimeouts(tt.rt, tt.rt.Pool); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestConnectTimeoutReachesDial: with ConfigureClient installed, a dial gets the connect timeout
// of the request (the route's when it has one), not the one the client was built with.
func TestConnectTimeoutReachesDial(t *testing.T) {
	ok := backend(t, echo("ok"))
	tests := []struct {
		name, routeExtra, upExtra string
		want                      time.Duration
	}{
		{"route", `"timeout":{"connect":0.25,"send":2,"read":2}`, `"timeout":{"connect":3,"send":2,"read":2}`, 250 * time.Millisecond},
		{"upstream", "", `"timeout":{"connect":3,"send":2,"read":2}`, 3 * time.Second},
		{"default", "", "", 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen atomic.Int64
			record := func(c *fasthttp.HostClient) {
				dial := c.DialTimeout
				c.DialTimeout = func(addr string, timeout time.Duration) (net.Conn, error) {
					seen.Store(int64(timeout))
					return dial(addr, timeout)
				}
			}
			h := start(t, Options{}, upstream.Options{Client: record}, "/apisix/routes/1", route("/", tt.routeExtra, tt.upExtra, ok))
			resp, body := get(t, h.base+"/")
			if resp.StatusCode != 200 {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			if got := time.Duration(seen.Load()); got != tt.want {
				t.Errorf("dialled with timeout %v, want %v", got, tt.want)
			}
		})
	}
}
