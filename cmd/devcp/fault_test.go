package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestFault drives /devcp/fault of a running devcp (no zoneproxy): refuse closes az2's port,
// blackhole accepts connections that never finish a TLS handshake, heal restores it; the key is
// required and bad zones or modes are refused.
func TestFault(t *testing.T) {
	ports := freePorts(t, 5)
	cpPorts, adminAddr := ports[:3], "127.0.0.1:"+ports[3]
	dir := t.TempDir()
	t.Setenv("DEVCP_ADMIN_KEY", "test-admin-key")
	ctx, cancel := context.WithCancel(context.Background())
	exit := make(chan int, 1)
	var stdout, stderr testutil.Buffer
	go func() {
		exit <- run(ctx, []string{"-dir", dir, "-members", "1", "-ports", strings.Join(cpPorts, ","),
			"-upstreams", "127.0.0.1:" + ports[4], "-admin-listen", adminAddr}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		<-exit
	})
	testutil.WaitForState(t, "devcp to run", 60*time.Second, func() (bool, string) {
		return strings.Contains(stdout.String(), "devcp: running"), stdout.String() + stderr.String()
	})
	if !strings.Contains(stdout.String(), "X-API-KEY test-admin-key") {
		t.Errorf("the key from DEVCP_ADMIN_KEY is not printed:\n%s", stdout.String())
	}
	post := func(path, key string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+adminAddr+path, nil)
		if key != "" {
			req.Header.Set("X-API-KEY", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// handshake reports whether a TLS handshake with az2's endpoint completes within timeout
	// (the certificate is not verified: only the handshake is probed).
	handshake := func(timeout time.Duration) error {
		d := net.Dialer{Timeout: timeout}
		conn, err := tls.DialWithDialer(&d, "tcp", "127.0.0.1:"+cpPorts[1], &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			return err
		}
		return conn.Close()
	}
	tests := []struct {
		name, path, key string
		status          int
		check           func() error
	}{
		{"no key", "/devcp/fault/az2/refuse", "", 401, nil},
		{"unknown zone", "/devcp/fault/az4/refuse", "test-admin-key", 404, nil},
		{"unknown mode", "/devcp/fault/az2/explode", "test-admin-key", 400, nil},
		{"refuse", "/devcp/fault/az2/refuse", "test-admin-key", 200, func() error {
			if c, err := net.DialTimeout("tcp", "127.0.0.1:"+cpPorts[1], time.Second); err == nil {
				c.Close()
				return fmt.Errorf("az2 still accepts connections")
			}
			return nil
		}},
		{"blackhole", "/devcp/fault/az2/blackhole", "test-admin-key", 200, func() error {
			if err := handshake(time.Second); err == nil {
				return fmt.Errorf("a TLS handshake with a blackholed endpoint completed")
			}
			return nil
		}},
		{"heal by port", "/devcp/fault/" + cpPorts[1] + "/heal", "test-admin-key", 200, func() error { return handshake(30 * time.Second) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := post(tt.path, tt.key); got != tt.status {
				t.Fatalf("POST %s = %d, want %d", tt.path, got, tt.status)
			}
			if tt.check != nil {
				if err := tt.check(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
