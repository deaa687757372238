package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestRealIPPluginEndToEnd: the real-ip plugin changes the client address that later plugins
// (ip-restriction, limit-count's key) and the upstream's X-Forwarded-For and X-Real-IP see; an
// untrusted peer, or a value that does not parse, leaves it as it was.
func TestRealIPPluginEndToEnd(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/ip","plugins":{"real-ip":{"source":"http_x_client"}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/deny","plugins":{"real-ip":{"source":"http_x_forwarded_for","trusted_addresses":["127.0.0.0/8","10.0.0.0/8"],"recursive":true},`+
			`"ip-restriction":{"blacklist":["198.51.100.0/24"]}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/untrusted","plugins":{"real-ip":{"source":"arg_ip","trusted_addresses":["192.0.2.1"]}},"upstream":UPSTREAM}`,
		"/apisix/routes/4", `{"uri":"/count","plugins":{"real-ip":{"source":"http_x_client"},"limit-count":{"count":1,"time_window":60}},"upstream":UPSTREAM}`,
	)
	for _, tt := range []struct {
		name, path string
		headers    []string
		status     int
		want       []string // lines the upstream must have seen
	}{
		{"header", "/ip", []string{"X-Client", "203.0.113.5"}, 200, []string{"X-Real-Ip: 203.0.113.5", "X-Forwarded-For: 203.0.113.5"}},
		{"bad value", "/ip", []string{"X-Client", "203.0.113.5:0"}, 200, []string{"X-Real-Ip: 127.0.0.1"}},
		{"no value", "/ip", nil, 200, []string{"X-Real-Ip: 127.0.0.1"}},
		{"recursive, blocked client", "/deny", []string{"X-Forwarded-For", "203.0.113.1, 198.51.100.9, 10.1.1.1"}, 403, nil},
		{"recursive, allowed client", "/deny", []string{"X-Forwarded-For", "198.51.100.9, 203.0.113.1, 10.1.1.1"}, 200, []string{"X-Real-Ip: 203.0.113.1"}},
		{"untrusted peer", "/untrusted?ip=203.0.113.7", nil, 200, []string{"X-Real-Ip: 127.0.0.1"}},
		{"limit key, first client", "/count", []string{"X-Client", "203.0.113.10"}, 200, nil},
		{"limit key, first client again", "/count", []string{"X-Client", "203.0.113.10"}, 503, nil},
		{"limit key, other client", "/count", []string{"X-Client", "203.0.113.11"}, 200, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := h.get(tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("%d %q, want %d", resp.StatusCode, body, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w+"\n") {
					t.Errorf("upstream saw\n%s\nwant %q", body, w)
				}
			}
		})
	}
	h.update("/apisix/routes/1", `{"uri":"/ip","plugins":{"real-ip":{"source":"http_x_client","trusted_addresses":["1.2.3.4/40"]}},"upstream":UPSTREAM}`)
	if logs := h.logs.Take(); !strings.Contains(logs, "invalid ip address: 1.2.3.4/40") {
		t.Errorf("logs\n%s\nwant the rejection", logs)
	}
}

// TestClientIPKeptPerConnection: the peer's address, which a connection formats once for
// X-Forwarded-For and X-Real-IP, never stands in for an address a real-ip plugin gave one of its
// requests, nor the other way round, in any order on one keep-alive connection.
func TestClientIPKeptPerConnection(t *testing.T) {
	h := newTrafficHarness(t,
		"/apisix/routes/1", `{"uri":"/ip","plugins":{"real-ip":{"source":"http_x_client"}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/plain","upstream":UPSTREAM}`,
	)
	c, err := net.Dial("tcp", strings.TrimPrefix(h.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, tt := range []struct{ path, header, want string }{
		{"/ip", "X-Client: 203.0.113.5\r\n", "203.0.113.5"},
		{"/plain", "", "127.0.0.1"},
		{"/ip", "", "127.0.0.1"},
		{"/ip", "X-Client: 198.51.100.20\r\n", "198.51.100.20"},
		{"/plain", "", "127.0.0.1"},
		{"/ip", "X-Client: 2001:db8::7\r\n", "2001:db8::7"},
		{"/plain", "X-Client: 203.0.113.9\r\n", "127.0.0.1"},
		// The real-IP settings' default: X-Real-IP from a loopback peer.
		{"/plain", "X-Real-IP: 192.0.2.44\r\n", "192.0.2.44"},
		{"/plain", "", "127.0.0.1"},
	} {
		if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", tt.path, tt.header); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, body, err)
		}
		for _, w := range []string{"X-Real-Ip: " + tt.want + "\n", "X-Forwarded-For: " + tt.want + "\n"} {
			if !strings.Contains(string(body), w) {
				t.Errorf("request %d (%s %q): upstream saw\n%s\nwant %q", i, tt.path, tt.header, body, w)
			}
		}
	}
}
