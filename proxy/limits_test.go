package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestLimitCount: limit-count through the proxy: the quota headers on the upstream's answers
// and on the rejection, the counter kept by a build that leaves the conf alone (another route
// changing), reset by one that changes it, shared by a group across routes.
func TestLimitCount(t *testing.T) {
	h := newPluginHarness(t, nil,
		"/apisix/routes/1", `{"uri":"/r","plugins":{"limit-count":{"count":2,"time_window":60}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/g1","plugins":{"limit-count":{"count":3,"time_window":60,"group":"g","rejected_code":429,"rejected_msg":"over"}},"upstream":UPSTREAM}`,
		"/apisix/routes/3", `{"uri":"/g2","plugins":{"limit-count":{"count":3,"time_window":60,"group":"g","rejected_code":429,"rejected_msg":"over"}},"upstream":UPSTREAM}`,
	)
	type step struct {
		update           []string // keys and values applied first
		path             string
		status           int
		limit, remaining string
		body             string // checked when set
	}
	for _, tt := range []struct {
		name  string
		steps []step
	}{
		{"count 2: 200, 200, 503 with the quota headers", []step{
			{path: "/r", status: 200, limit: "2", remaining: "1"},
			{path: "/r", status: 200, limit: "2", remaining: "0"},
			{path: "/r", status: 503, limit: "2", remaining: "0"},
		}},
		{"another route's update keeps the counter", []step{
			{update: []string{"/apisix/routes/9", `{"uri":"/other","upstream":UPSTREAM}`}, path: "/r", status: 503, limit: "2", remaining: "0"},
		}},
		{"a changed conf starts afresh", []step{
			{update: []string{"/apisix/routes/1", `{"uri":"/r","plugins":{"limit-count":{"count":3,"time_window":60}},"upstream":UPSTREAM}`},
				path: "/r", status: 200, limit: "3", remaining: "2"},
		}},
		{"a group is counted across its routes", []step{
			{path: "/g1", status: 200, limit: "3", remaining: "2"},
			{path: "/g2", status: 200, limit: "3", remaining: "1"},
			{path: "/g1", status: 200, limit: "3", remaining: "0"},
			{path: "/g2", status: 429, limit: "3", remaining: "0", body: `{"error_msg":"over"}` + "\n"},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for i, s := range tt.steps {
				if s.update != nil {
					h.update(s.update...)
				}
				resp, body := h.get(s.path)
				lim, rem := resp.Header.Get("X-RateLimit-Limit"), resp.Header.Get("X-RateLimit-Remaining")
				if resp.StatusCode != s.status || lim != s.limit || rem != s.remaining || resp.Header.Get("X-RateLimit-Reset") == "" {
					t.Fatalf("step %d: %d limit %q remaining %q reset %q, want %d %q %q", i, resp.StatusCode, lim, rem,
						resp.Header.Get("X-RateLimit-Reset"), s.status, s.limit, s.remaining)
				}
				if s.body != "" && body != s.body {
					t.Fatalf("step %d: body %q, want %q", i, body, s.body)
				}
			}
		})
	}
}

// TestLimitCountRedisTwoProxies: two proxies, each with its own builder, plugin instances and
// Redis client (as two zoneproxy processes of two zones), share one limit in Redis exactly: n
// admitted of 1,000 sent by both at once. Then Redis stops: the route with allow_degradation
// lets requests through, the other answers 500, as APISIX.
func TestLimitCountRedisTwoProxies(t *testing.T) {
	srv := testutil.StartRedis(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	const n, sent = 300, 1000
	redis := fmt.Sprintf(`"policy":"redis","redis_host":%q,"redis_port":%s,"redis_timeout":5000`, host, port)
	kvs := []string{
		"/apisix/routes/1", `{"uri":"/r","plugins":{"limit-count":{"count":` + strconv.Itoa(n) + `,"time_window":60,` + redis + `}},"upstream":UPSTREAM}`,
		"/apisix/routes/2", `{"uri":"/degrade","plugins":{"limit-count":{"count":1000,"time_window":60,"allow_degradation":true,` + redis + `}},"upstream":UPSTREAM}`,
	}
	proxies := []*pluginHarness{newPluginHarness(t, nil, kvs...), newPluginHarness(t, nil, kvs...)}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)
	get := func(h *pluginHarness, path string) (int, error) {
		resp, err := client.Get(h.base + path)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	var codes sync.Map // status -> *atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		h := proxies[w%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range sent / 8 {
				st, err := get(h, "/r")
				if err != nil {
					t.Error(err)
					return
				}
				c, _ := codes.LoadOrStore(st, new(atomic.Int64))
				c.(*atomic.Int64).Add(1)
			}
		}()
	}
	wg.Wait()
	count := func(st int) int64 {
		if c, ok := codes.Load(st); ok {
			return c.(*atomic.Int64).Load()
		}
		return 0
	}
	if count(200) != n || count(503) != sent-n {
		t.Fatalf("200: %d, 503: %d; want %d, %d", count(200), count(503), n, sent-n)
	}

	srv.Stop()
	for _, tt := range []struct {
		name, path string
		status     int
	}{
		{"no degradation: 500", "/r", 500},
		{"allow_degradation: through", "/degrade", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, h := range proxies {
				if st, err := get(h, tt.path); err != nil || st != tt.status {
					t.Fatalf("Redis stopped: %d %v, want %d", st, err, tt.status)
				}
			}
		})
	}
}

// TestLimitConnReleasedOnAbort: a limit-conn slot is held while the request is in flight and
// given back when it ends, also when the client went away before the upstream answered.
func TestLimitConnReleasedOnAbort(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
	}))
	up := `{"type":"roundrobin","nodes":{"` + slow + `":1}}`
	h := newPluginHarness(t, nil,
		"/apisix/routes/1", `{"uris":["/slow","/fast"],"plugins":{"limit-conn":{"conn":1,"burst":0,"default_conn_delay":0.1,"key":"remote_addr"}},"upstream":`+up+`}`,
	)
	// The client gives up once the request reached the upstream, before it answers.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/slow", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_ = resp.Body.Close()
		}
		errc <- err
	}()
	<-arrived
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("the slow request answered")
	}
	if resp, _ := h.get("/fast"); resp.StatusCode != 503 {
		t.Fatalf("while the aborted request is in flight: %d, want 503 (its slot held)", resp.StatusCode)
	}
	once.Do(func() { close(release) })
	testutil.WaitFor(t, "the aborted request's slot to be given back", 10*time.Second, func() bool {
		resp, _ := h.get("/fast")
		return resp.StatusCode == 200
	})
}
