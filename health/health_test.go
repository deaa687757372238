package health

import (
	"context"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/upstream"
)

const fastChecks = `"checks":{"active":{"timeout":0.5,"healthy":{"interval":1,"successes":2},
	"unhealthy":{"interval":1,"http_failures":2,"tcp_failures":2,"timeouts":2}}}`

func TestActiveEjectsStoppedNodeAndRestoresIt(t *testing.T) {
	a, b := startServer(t), startServer(t)
	p := pool(t, upstream.NewRegistry(upstream.Options{}), "/apisix/upstreams/1", `{"nodes":`+nodesOf(a, b)+`,`+fastChecks+`}`)
	m := newManager(t)
	m.Sync(context.Background(), []*upstream.Pool{p})
	na := p.Nodes()[0]
	testutil.WaitFor(t, "first probes of a", waitTimeout, func() bool { return a.hits.Load() >= 2 })
	if !na.Healthy() {
		t.Fatal("a answering 200 was ejected")
	}
	a.stop()
	testutil.WaitFor(t, "a ejected after it stopped", waitTimeout, func() bool { return !na.Healthy() })
	for range 10 {
		if n := p.Pick(nil, nil); n == na {
			t.Fatal("the ejected node was picked")
		}
	}
	a.listen(a.addr)
	testutil.WaitFor(t, "a restored after it listens again", waitTimeout, na.Healthy)
	seen := map[*upstream.Node]bool{}
	for range 4 {
		seen[p.Pick(nil, nil)] = true
	}
	if !seen[na] {
		t.Fatal("the restored node gets no traffic")
	}
	if !p.Nodes()[1].Healthy() {
		t.Fatal("b was ejected")
	}
}

func TestActiveHTTPStatuses(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		wantHealthy bool
	}{
		{"500 is unhealthy", 500, false},
		{"404 is unhealthy", 404, false},
		{"302 is healthy", 302, true},
		{"418 is in neither list", 418, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t)
			s.status.Store(int32(tt.status))
			p := pool(t, upstream.NewRegistry(upstream.Options{}), "k", `{"nodes":`+nodesOf(s)+`,`+fastChecks+`}`)
			m := newManager(t)
			m.Sync(context.Background(), []*upstream.Pool{p})
			n := p.Nodes()[0]
			testutil.WaitFor(t, "4 probes", waitTimeout, func() bool { return s.hits.Load() >= 4 })
			if n.Healthy() != tt.wantHealthy {
				t.Fatalf("after %d probes answering %d healthy = %v, want %v", s.hits.Load(), tt.status, n.Healthy(), tt.wantHealthy)
			}
			if !tt.wantHealthy {
				s.status.Store(200)
				testutil.WaitFor(t, "recovery after 200s", waitTimeout, n.Healthy)
			}
		})
	}
}

func TestActiveTCP(t *testing.T) {
	s := startServer(t)
	s.silent.Store(true) // a tcp check only connects
	p := pool(t, upstream.NewRegistry(upstream.Options{}), "k",
		`{"nodes":`+nodesOf(s)+`,"checks":{"active":{"type":"tcp","unhealthy":{"tcp_failures":1},"healthy":{"successes":1}}}}`)
	m := newManager(t)
	m.Sync(context.Background(), []*upstream.Pool{p})
	testutil.WaitFor(t, "two probes", waitTimeout, func() bool { return s.hits.Load() >= 2 })
	n := p.Nodes()[0]
	if !n.Healthy() {
		t.Fatal("a listening node failed the tcp check")
	}
	s.stop()
	testutil.WaitFor(t, "ejection of a closed port", waitTimeout, func() bool { return !n.Healthy() })
	s.listen(s.addr)
	testutil.WaitFor(t, "restore", waitTimeout, n.Healthy)
}

func TestActiveTimeouts(t *testing.T) {
	s := startServer(t)
	s.silent.Store(true)
	p := pool(t, upstream.NewRegistry(upstream.Options{}), "k",
		`{"nodes":`+nodesOf(s)+`,"checks":{"active":{"timeout":0.1,"unhealthy":{"timeouts":2,"http_failures":1,"tcp_failures":1}}}}`)
	m := newManager(t)
	m.Sync(context.Background(), []*upstream.Pool{p})
	n := p.Nodes()[0]
	testutil.WaitFor(t, "first timeout", waitTimeout, func() bool { return s.hits.Load() >= 1 })
	testutil.WaitFor(t, "ejection after 2 timeouts", waitTimeout, func() bool { return !n.Healthy() })
	if s.hits.Load() < 2 {
		t.Fatalf("ejected after %d probes, want 2 timeouts", s.hits.Load())
	}
}

func TestActiveHTTPS(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "example.com" {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	t.Cleanup(ts.Close)
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())
	addr := strings.TrimPrefix(ts.URL, "https://")
	tests := []struct {
		name        string
		verify      bool
		opts        []Option
		wantHealthy bool
	}{
		{"no verification", false, nil, true},
		{"verification against unknown roots", true, nil, false},
		{"verification against the server's root", true, []Option{WithRootCAs(roots)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool(t, upstream.NewRegistry(upstream.Options{}), "k", `{"nodes":{"`+addr+`":1},"checks":{"active":{"type":"https",
				"host":"example.com","https_verify_certificate":`+map[bool]string{true: "true", false: "false"}[tt.verify]+`,
				"healthy":{"successes":1},"unhealthy":{"tcp_failures":1,"http_failures":1}}}}`)
			m := newManager(t, tt.opts...)
			m.Sync(context.Background(), []*upstream.Pool{p})
			n := p.Nodes()[0]
			if tt.wantHealthy {
				// Start from unhealthy so that a passing probe is visible.
				n.ReportProbe(upstream.ProbeTCPFailure, 0)
				testutil.WaitFor(t, "https probe to pass", waitTimeout, n.Healthy)
			} else {
				testutil.WaitFor(t, "https probe to fail", waitTimeout, func() bool { return !n.Healthy() })
			}
		})
	}
}

func TestProbeRequest(t *testing.T) {
	s := startServer(t)
	ip, port, _ := strings.Cut(s.addr, ":")
	tests := []struct {
		name, json string
		want       []string
	}{
		{"defaults on an IP node", `{"nodes":{"` + s.addr + `":1},"checks":{"active":{}}}`,
			[]string{"GET / HTTP/1.1\r\n", "Connection: close\r\n", "Host: " + ip + "\r\n"}},
		{"path, method, headers, host, body", `{"nodes":{"` + s.addr + `":1},"checks":{"active":{"http_path":"/status?x=1",
			"http_method":"POST","host":"probe.test","req_headers":["X-A: 1","User-Agent: hc"],"http_req_body":"ping"}}}`,
			[]string{"POST /status?x=1 HTTP/1.1\r\n", "X-A: 1\r\n", "User-Agent: hc\r\n", "Host: probe.test\r\n", "Content-Length: 4\r\n", "\r\n\r\nping"}},
		{"rewrite pins the Host", `{"pass_host":"rewrite","upstream_host":"up.test","nodes":{"` + s.addr + `":1},"checks":{"active":{"host":"probe.test"}}}`,
			[]string{"Host: up.test\r\n"}},
		{"a domain node probes with its name", `{"nodes":{"localhost:` + port + `":1},"checks":{"active":{"host":"probe.test"}}}`,
			[]string{"Host: localhost\r\n"}},
		{"checks port overrides the node's", `{"nodes":{"` + ip + `:1":1},"checks":{"active":{"port":` + port + `,"http_path":"/via-port"}}}`,
			[]string{"GET /via-port HTTP/1.1\r\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := pool(t, upstream.NewRegistry(upstream.Options{}), "k", tt.json)
			m := newManager(t)
			before := s.hits.Load()
			m.Sync(context.Background(), []*upstream.Pool{p})
			testutil.WaitFor(t, "a probe", waitTimeout, func() bool {
				return s.hits.Load() > before && s.lastRequest() != "" && strings.Contains(s.lastRequest(), tt.want[0])
			})
			m.Close()
			got := s.lastRequest()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("probe request %q lacks %q", got, w)
				}
			}
		})
	}
}

func TestConcurrencyBound(t *testing.T) {
	shared := &load{}
	var nodes []*server
	for range 6 {
		s := startServer(t, func(s *server) { s.load = shared })
		s.delay.Store(int64(40 * time.Millisecond))
		nodes = append(nodes, s)
	}
	p := pool(t, upstream.NewRegistry(upstream.Options{}), "k", `{"nodes":`+nodesOf(nodes...)+`,
		"checks":{"active":{"concurrency":2,"healthy":{"interval":1}}}}`)
	m := newManager(t)
	m.Sync(context.Background(), []*upstream.Pool{p})
	testutil.WaitFor(t, "two rounds", waitTimeout, func() bool {
		for _, s := range nodes {
			if s.hits.Load() < 2 {
				return false
			}
		}
		return true
	})
	if peak := shared.peak.Load(); peak != 2 {
		t.Fatalf("peak concurrent probes = %d, want concurrency 2", peak)
	}
}

func TestIntervalsPerHealth(t *testing.T) {
	up, down := startServer(t), startServer(t)
	p := pool(t, upstream.NewRegistry(upstream.Options{}), "k", `{"nodes":`+nodesOf(up, down)+`,
		"checks":{"active":{"healthy":{"interval":500,"successes":1},"unhealthy":{"interval":1,"tcp_failures":1}}}}`)
	nd := p.Nodes()[1]
	nd.ReportProbe(upstream.ProbeTCPFailure, 0)
	if nd.Healthy() {
		t.Fatal("setup: node not ejected")
	}
	m := newManager(t)
	m.Sync(context.Background(), []*upstream.Pool{p})
	testutil.WaitFor(t, "the unhealthy node probed at unhealthy.interval and restored", waitTimeout, nd.Healthy)
	if up.hits.Load() != 0 {
		t.Fatalf("the healthy node was probed %d times before healthy.interval (10 s here)", up.hits.Load())
	}
}

func TestSyncKeepsRestartsAndStops(t *testing.T) {
	s := startServer(t)
	r := upstream.NewRegistry(upstream.Options{})
	base := runtime.NumGoroutine()
	m := NewManager(nil, WithIntervalUnit(unit))
	ctx := context.Background()
	p1 := pool(t, r, "k", `{"nodes":{"`+s.addr+`":1,"127.0.0.1:9":1},`+fastChecks+`}`)
	other := pool(t, r, "other", `{"nodes":{"`+s.addr+`":1},`+fastChecks+`}`)
	plain := pool(t, r, "plain", `{"nodes":{"`+s.addr+`":1}}`)
	m.Sync(ctx, []*upstream.Pool{p1, other, plain})
	c1 := m.running()["k"]
	if len(m.running()) != 2 || c1 == nil {
		t.Fatalf("running = %v, want checkers for k and other only", m.running())
	}
	testutil.WaitFor(t, "probes", waitTimeout, func() bool { return s.hits.Load() >= 2 })

	p2 := pool(t, r, "k", `{"nodes":{"`+s.addr+`":5,"127.0.0.1:9":1},`+fastChecks+`}`) // weights only
	m.Sync(ctx, []*upstream.Pool{p2, other})
	if m.running()["k"] != c1 {
		t.Fatal("a weight-only change restarted the checker")
	}
	p3 := pool(t, r, "k", `{"nodes":{"`+s.addr+`":5},`+fastChecks+`}`) // a node left
	m.Sync(ctx, []*upstream.Pool{p3, other})
	if c3 := m.running()["k"]; c3 == c1 || c3 == nil {
		t.Fatal("a node change kept the old checker")
	}
	testutil.WaitFor(t, "the replaced checker to exit", waitTimeout, c1.exited)

	m.Sync(ctx, nil)
	if len(m.running()) != 0 {
		t.Fatalf("running after Sync(nil) = %d", len(m.running()))
	}
	testutil.WaitFor(t, "goroutines back to baseline after Sync(nil)", waitTimeout, func() bool { return runtime.NumGoroutine() <= base })

	cctx, cancel := context.WithCancel(ctx)
	m.Sync(cctx, []*upstream.Pool{p3, other})
	cancel()
	testutil.WaitFor(t, "checkers to stop with their context", waitTimeout, func() bool {
		for _, c := range m.running() {
			if !c.exited() {
				return false
			}
		}
		return true
	})
	m.Sync(ctx, []*upstream.Pool{p3})
	if c := m.running()["k"]; c == nil || c.exited() {
		t.Fatal("Sync did not replace a checker whose context ended")
	}
	m.Close()
	if len(m.running()) != 0 {
		t.Fatal("Close left checkers")
	}
	testutil.WaitFor(t, "goroutines back to baseline after Close", waitTimeout, func() bool { return runtime.NumGoroutine() <= base })
	m.Sync(ctx, []*upstream.Pool{p3}) // after Close: no effect
	if len(m.running()) != 0 {
		t.Fatal("Sync after Close started a checker")
	}
}

func TestStatusLine(t *testing.T) {
	tests := []struct {
		line string
		want int
	}{
		{"HTTP/1.1 200 OK\r\n", 200},
		{"HTTP/1.0 503\r\n", 503},
		{"HTTP/2.0   404 Not Found\r\n", 404},
		{"HTTP/1.1200 OK\r\n", 0},
		{"ICY 200 OK\r\n", 0},
		{"HTTP/x 200\r\n", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.line), func(t *testing.T) {
			if got := statusOf([]byte(tt.line)); got != tt.want {
				t.Fatalf("statusOf(%q) = %d, want %d", tt.line, got, tt.want)
			}
		})
	}
}
