package upstream

import (
	"encoding/json"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestJSON(t *testing.T) {
	for _, n := range []int{SmallSize, KiBSize, LargeSize} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			b := JSON(n)
			if len(b) != n {
				t.Fatalf("len = %d, want %d", len(b), n)
			}
			var v struct {
				Status string `json:"status"`
				Size   int    `json:"size"`
			}
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if v.Status != "ok" || v.Size != n {
				t.Fatalf("decoded %+v", v)
			}
		})
	}
}

func TestServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: New().Handler}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })

	c := &fasthttp.HostClient{Addr: ln.Addr().String()}
	tests := []struct {
		name string
		path string
		want int
	}{
		{"default", "/bench", SmallSize},
		{"root", "/", SmallSize},
		{"1k", "/bench/1k", KiBSize},
		{"64k", "/bench/64k", LargeSize},
		{"suffix only", "/bench/64k/x", SmallSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + ln.Addr().String() + tt.path)
			if err := c.DoTimeout(req, resp, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode() != fasthttp.StatusOK || len(resp.Body()) != tt.want {
				t.Fatalf("status %d, body %d bytes; want 200, %d", resp.StatusCode(), len(resp.Body()), tt.want)
			}
			if ct := string(resp.Header.ContentType()); ct != "application/json" {
				t.Fatalf("content type %q", ct)
			}
			if resp.ConnectionClose() {
				t.Fatal("connection not kept alive")
			}
		})
	}
}
