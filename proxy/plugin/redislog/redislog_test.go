package redislog

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestRoute: a go-redis message (here: a pool whose dial fails while it keeps idle connections
// warm) reaches the slog logger, not stderr.
func TestRoute(t *testing.T) {
	var buf testutil.Buffer
	Route(slog.New(slog.NewTextHandler(&buf, nil)))
	// A logger that prints directly proves the adapter; then a real client failure.
	logger{log: slog.New(slog.NewTextHandler(&buf, nil)).With("component", "redis")}.Printf(context.TODO(), "redis: %s\n", "probe")
	if got := buf.Take(); !strings.Contains(got, `component=redis`) || !strings.Contains(got, `detail="redis: probe"`) || !strings.Contains(got, "level=WARN") {
		t.Fatalf("adapter: %q", got)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MinIdleConns: 1, DialTimeout: 100 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	_ = c.Ping(context.Background()).Err()
	testutil.WaitFor(t, "go-redis's message in the slog logger", 5*time.Second, func() bool {
		return strings.Contains(buf.String(), "component=redis")
	})
}
