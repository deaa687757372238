package metrics_test

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

const ms = time.Millisecond

// lbl builds a label matcher from name, value pairs.
func lbl(kv ...string) map[string]string {
	out := make(map[string]string, len(kv)/2+3)
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// constant labels every request series carries.
func withConst(l map[string]string) map[string]string {
	l["request_type"] = "traditional_http"
	l["request_llm_model"] = ""
	l["llm_model"] = ""
	return l
}

func TestObserveSequence(t *testing.T) {
	m := newMetrics(t, metrics.Options{Hostname: "h", Version: "v"})
	url := serve(t, m)
	r1 := m.ForRoute(metrics.RouteLabels{Route: "1"})
	r2 := m.ForRoute(metrics.RouteLabels{Route: "2", Service: "s1"})
	type step struct {
		rm *metrics.RouteMetrics
		s  metrics.Sample
		n  int
	}
	steps := []step{
		{r1, metrics.Sample{Code: 200, Source: metrics.SourceUpstream, MatchedURI: "/a", Node: "10.0.0.1",
			Request: 3 * ms, Upstream: 2 * ms, BytesIn: 100, BytesOut: 200}, 3},
		{r1, metrics.Sample{Code: 502, Source: metrics.SourceNginx, MatchedURI: "/a", Node: "10.0.0.2",
			Request: 40 * ms, Upstream: 35 * ms, BytesIn: 100, BytesOut: 50}, 1},
		{r1, metrics.Sample{Code: 200, Source: metrics.SourceUpstream, MatchedURI: "/a2", Node: "10.0.0.1",
			Request: 3 * ms, Upstream: 2 * ms, BytesIn: 100, BytesOut: 200}, 1},
		{r2, metrics.Sample{Code: 200, Source: metrics.SourceUpstream, MatchedURI: "/b/*", MatchedHost: "*.example.com",
			Consumer: "jack", Node: "10.0.0.1", Request: 1500 * ms, Upstream: 1499 * ms, BytesIn: 10, BytesOut: 20}, 1},
		{m.Unmatched(), metrics.Sample{Code: 404, Request: ms / 2, BytesIn: 80, BytesOut: 150}, 2},
	}
	for _, st := range steps {
		for range st.n {
			s := st.s
			st.rm.Observe(&s)
		}
	}
	f := scrape(t, url, metrics.DefaultPath)

	t.Run("status", func(t *testing.T) {
		tests := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"route 1 ok", lbl("code", "200", "route", "1", "matched_uri", "/a", "matched_host", "", "service", "",
				"consumer", "", "node", "10.0.0.1", "response_source", "upstream"), 3},
			{"route 1 other uri", lbl("code", "200", "route", "1", "matched_uri", "/a2", "node", "10.0.0.1"), 1},
			{"route 1 bad gateway", lbl("code", "502", "route", "1", "matched_uri", "/a", "node", "10.0.0.2",
				"response_source", "nginx"), 1},
			{"route 2", lbl("code", "200", "route", "2", "matched_uri", "/b/*", "matched_host", "*.example.com",
				"service", "s1", "consumer", "jack", "node", "10.0.0.1", "response_source", "upstream"), 1},
			{"unmatched", lbl("code", "404", "route", "", "matched_uri", "", "matched_host", "", "service", "",
				"consumer", "", "node", "", "response_source", "apisix"), 2},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := f.value(t, "apisix_http_status", withConst(tt.labels)); got != tt.want {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
		if n := len(f.find("apisix_http_status", nil)); n != len(tests) {
			t.Errorf("%d status series, want %d:\n%s", n, len(tests), f.dump("apisix_http_status"))
		}
		want := []string{"code", "consumer", "llm_model", "matched_host", "matched_uri", "node", "request_llm_model",
			"request_type", "response_source", "route", "service"}
		if got := f.labelNames(t, "apisix_http_status"); !slices.Equal(got, want) {
			t.Errorf("labels %v, want %v", got, want)
		}
	})

	t.Run("latency", func(t *testing.T) {
		tests := []struct {
			name    string
			labels  map[string]string
			count   uint64
			sumMS   float64
			buckets map[float64]uint64 // le -> cumulative count, for the bounds checked
		}{
			{"route 1 node 1 request", lbl("type", "request", "route", "1", "node", "10.0.0.1", "service", "", "consumer", ""),
				4, 12, map[float64]uint64{1: 0, 2: 0, 5: 4, 60000: 4}},
			{"route 1 node 1 upstream", lbl("type", "upstream", "route", "1", "node", "10.0.0.1"),
				4, 8, map[float64]uint64{1: 0, 2: 4, 5: 4}},
			{"route 1 node 1 apisix", lbl("type", "apisix", "route", "1", "node", "10.0.0.1"),
				4, 4, map[float64]uint64{1: 4}},
			{"route 1 node 2 request", lbl("type", "request", "route", "1", "node", "10.0.0.2"),
				1, 40, map[float64]uint64{20: 0, 50: 1}},
			{"route 1 node 2 apisix", lbl("type", "apisix", "route", "1", "node", "10.0.0.2"),
				1, 5, map[float64]uint64{2: 0, 5: 1}},
			{"route 2 request", lbl("type", "request", "route", "2", "service", "s1", "consumer", "jack", "node", "10.0.0.1"),
				1, 1500, map[float64]uint64{1000: 0, 2000: 1}},
			{"unmatched request", lbl("type", "request", "route", "", "node", ""),
				2, 1, map[float64]uint64{1: 2}},
			{"unmatched apisix", lbl("type", "apisix", "route", "", "node", ""),
				2, 1, map[float64]uint64{1: 2}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h := f.one(t, "apisix_http_latency", withConst(tt.labels)).GetHistogram()
				if h.GetSampleCount() != tt.count {
					t.Errorf("count %d, want %d", h.GetSampleCount(), tt.count)
				}
				if diff := h.GetSampleSum() - tt.sumMS; diff > 1e-9 || diff < -1e-9 {
					t.Errorf("sum %v ms, want %v", h.GetSampleSum(), tt.sumMS)
				}
				got := make(map[float64]uint64)
				var les []float64
				for _, b := range h.GetBucket() {
					got[b.GetUpperBound()] = b.GetCumulativeCount()
					les = append(les, b.GetUpperBound())
				}
				want := []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, math.Inf(1)}
				if !slices.Equal(les, want) {
					t.Errorf("buckets %v, want APISIX's %v", les, want)
				}
				for le, c := range tt.buckets {
					if got[le] != c {
						t.Errorf("bucket le=%v: %d, want %d", le, got[le], c)
					}
				}
			})
		}
		if ms := f.find("apisix_http_latency", lbl("type", "upstream", "route", "")); len(ms) != 0 {
			t.Errorf("unmatched requests have an upstream latency series")
		}
	})

	t.Run("bandwidth", func(t *testing.T) {
		tests := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"route 1 node 1 in", lbl("type", "ingress", "route", "1", "service", "", "consumer", "", "node", "10.0.0.1"), 400},
			{"route 1 node 1 out", lbl("type", "egress", "route", "1", "node", "10.0.0.1"), 800},
			{"route 1 node 2 out", lbl("type", "egress", "route", "1", "node", "10.0.0.2"), 50},
			{"route 2 in", lbl("type", "ingress", "route", "2", "service", "s1", "consumer", "jack"), 10},
			{"unmatched out", lbl("type", "egress", "route", "", "node", ""), 300},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := f.value(t, "apisix_bandwidth", withConst(tt.labels)); got != tt.want {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
	})
}

func TestRetireDropsRoutes(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	url := serve(t, m)
	l1, l2 := metrics.RouteLabels{Route: "1"}, metrics.RouteLabels{Route: "2"}
	var h1, h2 metrics.RouteHandle
	r1, r2 := h1.Get(m, l1), h2.Get(m, l2)
	if r1 == nil || r1 != m.ForRoute(l1) || r2.Labels() != l2 {
		t.Fatalf("handles %v, %v: not the labels' handles", r1, r2)
	}
	s := metrics.Sample{Code: 200, Source: metrics.SourceUpstream, Node: "n", Request: ms}
	r1.Observe(&s)
	r2.Observe(&s)
	r2.Observe(&s)

	tests := []struct {
		name  string
		route string
		want  int // series of the route in each family
	}{
		{"kept route", "1", 1},
		{"dropped route", "2", 0},
	}
	m.Retire(metrics.Retirement{Labels: []metrics.RouteLabels{l2}, Handles: []*metrics.RouteHandle{&h2}})
	f := scrape(t, url, "/metrics")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, fam := range []string{"apisix_http_status"} {
				if n := len(f.find(fam, lbl("route", tt.route))); n != tt.want {
					t.Errorf("%s: %d series, want %d", fam, n, tt.want)
				}
			}
			wantLat := 3 * tt.want // request, upstream, apisix
			if n := len(f.find("apisix_http_latency", lbl("route", tt.route))); n != wantLat {
				t.Errorf("latency: %d series, want %d", n, wantLat)
			}
			if n := len(f.find("apisix_bandwidth", lbl("route", tt.route))); n != 2*tt.want {
				t.Errorf("bandwidth: %d series, want %d", n, 2*tt.want)
			}
		})
	}

	t.Run("handles", func(t *testing.T) {
		if h1.Get(m, l1) != r1 || m.ForRoute(l1) != r1 {
			t.Errorf("a kept route got a new handle")
		}
		if got := h2.Get(m, l2); got != r2 {
			t.Errorf("a retired handle that had its handle got %v, want the old one (whose samples are lost)", got)
		}
		var late metrics.RouteHandle
		m.Retire(metrics.Retirement{Handles: []*metrics.RouteHandle{&late}})
		if got := late.Get(m, l2); got != nil {
			t.Errorf("a retired handle made a handle at its first request: %v", got)
		}
		var again metrics.RouteHandle
		r2b := again.Get(m, l2)
		if r2b == nil || r2b == r2 {
			t.Fatalf("a route added again got handle %v, the old one was %v", r2b, r2)
		}
		r2b.Observe(&s)
		f := scrape(t, url, "/metrics")
		if got := f.value(t, "apisix_http_status", lbl("route", "2")); got != 1 {
			t.Errorf("re-added route: count %v, want 1 (a fresh start)", got)
		}
		m.Unmatched().Observe(&s)
		m.Retire(metrics.Retirement{Labels: []metrics.RouteLabels{l1, l2, {}}})
		f = scrape(t, url, "/metrics")
		if n := len(f.find("apisix_http_status", nil)); n != 1 {
			t.Errorf("after retiring every route: %d status series, want 1 (unmatched, never retired)", n)
		}
		var nilRM *metrics.RouteMetrics
		nilRM.Observe(&s) // must not panic
		odd := metrics.Sample{Code: 200, Source: 42, Node: "n", Request: ms}
		m.Unmatched().Observe(&odd) // an unknown source counts as "apisix" and must not break the scrape
		f = scrape(t, url, "/metrics")
		if got := f.value(t, "apisix_http_status", lbl("route", "", "response_source", "apisix")); got != 1 {
			t.Errorf("unknown source: count %v, want 1", got)
		}
	})
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestExpire(t *testing.T) {
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	m := newMetrics(t, metrics.Options{Expire: time.Minute, Now: clk.Now})
	url := serve(t, m)
	rm := m.ForRoute(metrics.RouteLabels{Route: "1"})
	a := metrics.Sample{Code: 200, Node: "a", Request: ms}
	b := metrics.Sample{Code: 200, Node: "b", Request: ms}

	rm.Observe(&a)
	scrape(t, url, "/metrics")
	clk.add(30 * time.Second)
	rm.Observe(&b)
	scrape(t, url, "/metrics")
	clk.add(45 * time.Second) // a: unchanged for 75 s; b: for 45 s
	f := scrape(t, url, "/metrics")

	tests := []struct {
		name, node string
		want       int
	}{
		{"idle series expired", "a", 0},
		{"recent series kept", "b", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := len(f.find("apisix_http_status", lbl("node", tt.node))); n != tt.want {
				t.Errorf("status: %d series, want %d", n, tt.want)
			}
			if n := len(f.find("apisix_bandwidth", lbl("node", tt.node))); n != 2*tt.want {
				t.Errorf("bandwidth: %d series, want %d", n, 2*tt.want)
			}
		})
	}
	t.Run("expired series restarts", func(t *testing.T) {
		rm.Observe(&a)
		f := scrape(t, url, "/metrics")
		if got := f.value(t, "apisix_http_status", lbl("node", "a")); got != 1 {
			t.Errorf("count %v, want 1", got)
		}
		if got := f.value(t, "apisix_http_status", lbl("node", "b")); got != 1 {
			t.Errorf("node b count %v, want 1", got)
		}
	})
}

// TestConcurrentObserve records many combinations from several goroutines at once
// (testutil.Concurrently: none finishes before every other has recorded its share), so that the
// route's table grows while it is read, and checks every count.
func TestConcurrentObserve(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	url := serve(t, m)
	rm := m.ForRoute(metrics.RouteLabels{Route: "1"})
	const (
		workers = 4
		codes   = 20
		nodes   = 10
		rounds  = 5
	)
	// observed[w][c*nodes+n] counts worker w's samples of code 200+c on node n.
	observed := make([][codes * nodes]int, workers)
	testutil.Concurrently(workers, rounds*codes*nodes, func(w, i int) bool {
		k := i % (codes * nodes)
		s := metrics.Sample{Code: 200 + k/nodes, Node: fmt.Sprintf("10.0.0.%d", k%nodes), Request: ms}
		rm.Observe(&s)
		observed[w][k]++
		return true
	})
	wantStatus := map[string]float64{} // by code and node
	wantLatency := map[string]uint64{} // by node
	for _, o := range observed {
		for k, n := range o {
			node := fmt.Sprintf("10.0.0.%d", k%nodes)
			wantStatus[fmt.Sprint(200+k/nodes, " ", node)] += float64(n)
			wantLatency[node] += uint64(n)
		}
	}
	f := scrape(t, url, "/metrics")
	tests := []struct {
		name string
		fam  string
		want int
	}{
		{"status series", "apisix_http_status", codes * nodes},
		{"latency series", "apisix_http_latency", 3 * nodes},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := len(f.find(tt.fam, nil)); n != tt.want {
				t.Errorf("%d series, want %d", n, tt.want)
			}
		})
	}
	t.Run("counts", func(t *testing.T) {
		for key, want := range wantStatus {
			code, node, _ := strings.Cut(key, " ")
			if got := f.value(t, "apisix_http_status", lbl("code", code, "node", node)); got != want {
				t.Errorf("code %s node %s: count %v, want %v", code, node, got, want)
			}
		}
		for node, want := range wantLatency {
			ms := f.find("apisix_http_latency", lbl("type", "request", "node", node))
			if len(ms) != 1 {
				t.Fatalf("node %s: %d request latency series, want 1", node, len(ms))
			}
			if got := ms[0].GetHistogram().GetSampleCount(); got != want {
				t.Errorf("node %s: %d request latencies, want %d", node, got, want)
			}
		}
	})
}
