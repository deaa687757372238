package metrics_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

func TestControlPlane(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := newMetrics(t, metrics.Options{Hostname: "dp-1", Version: "0.1.0", Now: clk.Now})
	url := serve(t, m)

	t.Run("before any config", func(t *testing.T) {
		f := scrape(t, url, "/metrics")
		for _, name := range []string{"zoneproxy_config_revision", "zoneproxy_config_age_seconds"} {
			if f[name] != nil {
				t.Errorf("%s exported before SetConfig", name)
			}
		}
	})

	const a, b = "https://a:7943", "https://b:7943"
	m.SetEndpointUp(a, true)
	m.SetEndpointUp(b, true)
	m.SetEndpointUp(a, false)
	m.Failover("", a) // first connection: not a failover
	m.Failover(a, b)
	m.Failover(b, a)
	m.Failover(a, b)
	m.Failover(b, b)
	m.Rejected("routes")
	m.Rejected("routes")
	m.Rejected("upstreams")
	m.Reload("file", true)
	m.Reload("file", true)
	m.Reload("file", false)
	m.SetConfig(42, clk.Now())
	clk.add(90 * time.Second)
	m.SetEtcdReachable(true)
	m.SetModifyIndexes(map[string]int64{"routes": 40, "upstreams": 41, "unknown": 99}, 42)
	f := scrape(t, url, metrics.DefaultPath)

	tests := []struct {
		name   string
		metric string
		labels map[string]string
		want   float64
	}{
		{"endpoint down", "zoneproxy_cp_endpoint_up", lbl("endpoint", a), 0},
		{"endpoint up", "zoneproxy_cp_endpoint_up", lbl("endpoint", b), 1},
		{"failover a to b", "zoneproxy_cp_failovers_total", lbl("from", a, "to", b), 2},
		{"failover b to a", "zoneproxy_cp_failovers_total", lbl("from", b, "to", a), 1},
		{"rejected routes", "zoneproxy_config_rejected_total", lbl("kind", "routes"), 2},
		{"rejected upstreams", "zoneproxy_config_rejected_total", lbl("kind", "upstreams"), 1},
		{"file reloads", "zoneproxy_config_reloads_total", lbl("source", "file", "result", "applied"), 2},
		{"failed file reloads", "zoneproxy_config_reloads_total", lbl("source", "file", "result", "failed"), 1},
		{"revision", "zoneproxy_config_revision", nil, 42},
		{"age", "zoneproxy_config_age_seconds", nil, 90},
		{"etcd reachable", "apisix_etcd_reachable", nil, 1},
		{"node info", "apisix_node_info", lbl("hostname", "dp-1", "version", "0.1.0"), 1},
		{"index routes", "apisix_etcd_modify_indexes", lbl("key", "routes"), 40},
		{"index upstreams", "apisix_etcd_modify_indexes", lbl("key", "upstreams"), 41},
		{"index services", "apisix_etcd_modify_indexes", lbl("key", "services"), 0},
		{"index max", "apisix_etcd_modify_indexes", lbl("key", "max_modify_index"), 41},
		{"index etcd", "apisix_etcd_modify_indexes", lbl("key", "x_etcd_index"), 42},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := f.value(t, tt.metric, tt.labels); got != tt.want {
				t.Errorf("%s%v = %v, want %v", tt.metric, tt.labels, got, tt.want)
			}
		})
	}
	t.Run("series counts", func(t *testing.T) {
		counts := map[string]int{
			"zoneproxy_cp_failovers_total": 2, // no "" and no b->b
			"apisix_etcd_modify_indexes":   10,
		}
		for name, want := range counts {
			if n := len(f.find(name, nil)); n != want {
				t.Errorf("%s: %d series, want %d:\n%s", name, n, want, f.dump(name))
			}
		}
	})
	t.Run("runtime collectors", func(t *testing.T) {
		for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
			if f[name] == nil {
				t.Errorf("%s missing", name)
			}
		}
	})
}

func TestUpstreamStatus(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	url := serve(t, m)
	reg := upstream.NewRegistry(upstream.Options{})
	pool := func(key, js string) *upstream.Pool {
		t.Helper()
		spec, err := upstream.Parse([]byte(js))
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		p, err := reg.Pool(key, spec)
		if err != nil {
			t.Fatalf("Pool: %v", err)
		}
		return p
	}
	checked := pool("/apisix/upstreams/1",
		`{"nodes":{"10.0.0.1:80":1,"10.0.0.2:8080":1},"checks":{"active":{"http_path":"/status"}}}`)
	inline := pool("/apisix/routes/7#upstream",
		`{"nodes":{"10.0.0.3:80":1},"checks":{"active":{"type":"tcp"}}}`)
	unchecked := pool("/apisix/upstreams/2", `{"nodes":{"10.0.0.9:80":1}}`)
	for _, n := range checked.Nodes() {
		if n.Port == 8080 {
			n.ReportProbe(upstream.ProbeTCPFailure, 0)
			n.ReportProbe(upstream.ProbeTCPFailure, 0)
		}
	}
	m.SetPools([]*upstream.Pool{checked, inline, unchecked})
	f := scrape(t, url, "/metrics")

	tests := []struct {
		name           string
		upstream, ip   string
		port           string
		want           float64
		wantNoSeriesOf bool
	}{
		{"healthy node", "/apisix/upstreams/1", "10.0.0.1", "80", 1, false},
		{"unhealthy node", "/apisix/upstreams/1", "10.0.0.2", "8080", 0, false},
		{"inline upstream named by its route", "/apisix/routes/7", "10.0.0.3", "80", 1, false},
		{"no checks, no series", "/apisix/upstreams/2", "10.0.0.9", "80", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := lbl("name", tt.upstream, "ip", tt.ip, "port", tt.port)
			if tt.wantNoSeriesOf {
				if n := len(f.find("apisix_upstream_status", labels)); n != 0 {
					t.Errorf("%d series, want none", n)
				}
				return
			}
			if got := f.value(t, "apisix_upstream_status", labels); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name   string
		path   string // Options.Path
		method string
		url    string
		want   int
	}{
		{"apisix path", "", http.MethodGet, metrics.DefaultPath, http.StatusOK},
		{"metrics path", "", http.MethodGet, "/metrics", http.StatusOK},
		{"head", "", http.MethodHead, "/metrics", http.StatusOK},
		{"other path", "", http.MethodGet, "/other", http.StatusNotFound},
		{"post", "", http.MethodPost, "/metrics", http.StatusMethodNotAllowed},
		{"custom path", "/custom/metrics", http.MethodGet, "/custom/metrics", http.StatusOK},
		{"custom path keeps /metrics", "/custom/metrics", http.MethodGet, "/metrics", http.StatusOK},
		{"custom path drops apisix path", "/custom/metrics", http.MethodGet, metrics.DefaultPath, http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := serve(t, newMetrics(t, metrics.Options{Path: tt.path}))
			req, err := http.NewRequest(tt.method, url+tt.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
				t.Errorf("Content-Type %q, want the text format", resp.Header.Get("Content-Type"))
			}
		})
	}
}

func TestNewOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    metrics.Options
		wantErr string // substring; "" = no error
		family  string // with no error: a family that must exist after one request
	}{
		{"defaults", metrics.Options{}, "", "apisix_http_status"},
		{"prefix", metrics.Options{Prefix: "gw_"}, "", "gw_http_status"},
		{"buckets", metrics.Options{Buckets: []float64{0.5, 10}}, "", "apisix_http_latency"},
		{"bad prefix", metrics.Options{Prefix: "9x-"}, "prefix", ""},
		{"empty buckets", metrics.Options{Buckets: []float64{}}, "buckets", ""},
		{"negative bucket", metrics.Options{Buckets: []float64{-1, 2}}, "buckets[0]", ""},
		{"unsorted buckets", metrics.Options{Buckets: []float64{5, 2}}, "buckets[1]", ""},
		{"relative path", metrics.Options{Path: "metrics"}, "path", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := metrics.New(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			s := metrics.Sample{Code: 200, Node: "n", Request: 7 * time.Millisecond}
			m.Unmatched().Observe(&s)
			f := scrape(t, serve(t, m), "/metrics")
			if f[tt.family] == nil {
				t.Fatalf("no %s", tt.family)
			}
			if len(tt.opts.Buckets) > 0 {
				h := f.one(t, "apisix_http_latency", lbl("type", "request")).GetHistogram()
				if got := len(h.GetBucket()); got != len(tt.opts.Buckets)+1 { // and +Inf
					t.Errorf("%d buckets, want %d", got, len(tt.opts.Buckets)+1)
				}
				if got := h.GetBucket()[0].GetCumulativeCount(); got != 0 {
					t.Errorf("7 ms counted in le=0.5")
				}
				if got := h.GetBucket()[1].GetCumulativeCount(); got != 1 {
					t.Errorf("7 ms not counted in le=10")
				}
			}
		})
	}
}
