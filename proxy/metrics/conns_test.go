package metrics_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

func TestConns(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	url := serve(t, m)
	conns := m.Conns()
	entered, release := make(chan struct{}, 1), make(chan struct{})
	addr := metrics.ServeCounted(t, conns, func(ctx *fasthttp.RequestCtx) {
		conns.Enter(ctx)
		entered <- struct{}{}
		<-release
		ctx.SetBodyString("ok")
	})

	state := func() map[string]float64 {
		f := scrape(t, url, "/metrics")
		out := make(map[string]float64)
		for _, s := range []string{"active", "accepted", "handled", "reading", "writing", "waiting"} {
			out[s] = f.value(t, "apisix_http_current_connections", lbl("state", s))
		}
		out["requests"] = f.value(t, "apisix_http_requests_total", nil)
		return out
	}
	expect := func(t *testing.T, want map[string]float64) {
		t.Helper()
		testutil.WaitForState(t, fmt.Sprint(want), 10*time.Second, func() (bool, string) {
			got := state()
			for k, v := range want {
				if got[k] != v {
					return false, fmt.Sprint(got)
				}
			}
			return true, ""
		})
	}

	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)

	steps := []struct {
		name string
		do   func(t *testing.T)
		want map[string]float64
	}{
		{"connected", func(*testing.T) {},
			map[string]float64{"active": 1, "accepted": 1, "handled": 1, "waiting": 1, "reading": 0, "writing": 0, "requests": 0}},
		{"in handler", func(t *testing.T) {
			if _, err := fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			<-entered
		}, map[string]float64{"active": 1, "waiting": 0, "reading": 0, "writing": 1, "requests": 1}},
		{"idle keep-alive", func(t *testing.T) {
			release <- struct{}{}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}, map[string]float64{"active": 1, "waiting": 1, "reading": 0, "writing": 0, "requests": 1}},
		{"partial request", func(t *testing.T) {
			if _, err := fmt.Fprint(c, "GET / HT"); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{"active": 1, "waiting": 0, "reading": 1, "writing": 0, "requests": 2}},
		{"closed", func(t *testing.T) {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}, map[string]float64{"active": 0, "accepted": 1, "waiting": 0, "reading": 0, "writing": 0, "requests": 2}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			st.do(t)
			expect(t, st.want)
		})
	}
}

func TestCountedConn(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	url := serve(t, m)
	client, sc := metrics.CountedPair(t, m.Conns())

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"ReadFrom", func(t *testing.T) {
			n, err := sc.(io.ReaderFrom).ReadFrom(strings.NewReader("ping"))
			if err != nil || n != 4 {
				t.Fatalf("ReadFrom: %d, %v", n, err)
			}
			buf := make([]byte, 4)
			if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ping" {
				t.Fatalf("client read %q, %v", buf, err)
			}
		}},
		{"WriteTo", func(t *testing.T) {
			if _, err := client.Write([]byte("pong")); err != nil {
				t.Fatal(err)
			}
			client.(*net.TCPConn).CloseWrite()
			var got strings.Builder
			if _, err := sc.(io.WriterTo).WriteTo(&got); err != nil || got.String() != "pong" {
				t.Fatalf("WriteTo: %q, %v", got.String(), err)
			}
		}},
		{"NetConn", func(t *testing.T) {
			if _, ok := sc.(interface{ NetConn() net.Conn }).NetConn().(*net.TCPConn); !ok {
				t.Fatal("NetConn is not the TCP connection")
			}
		}},
		{"double Close counts once", func(t *testing.T) {
			sc.Close()
			sc.Close()
			f := scrape(t, url, "/metrics")
			for state, want := range map[string]float64{"accepted": 1, "active": 0} {
				if got := f.value(t, "apisix_http_current_connections", lbl("state", state)); got != want {
					t.Errorf("%s = %v, want %v", state, got, want)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}
