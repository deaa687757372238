package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoneproxy/zoneproxy/proxy/accesslog"
	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// scrape reads the metrics over a real loopback HTTP server.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: m.Handler()}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/apisix/prometheus/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value finds the sample of family name whose labels include want: a counter's or gauge's
// value, a histogram's count.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	m := metric(fams, name, want)
	switch {
	case m == nil:
	case m.Counter != nil:
		return m.Counter.GetValue(), true
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount()), true
	case m.Gauge != nil:
		return m.Gauge.GetValue(), true
	}
	return 0, false
}

// metric is the first metric of family name whose labels include want, nil when none.
func metric(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// TestMetricsAndAccessLog: a known sequence of requests gives the exact APISIX metrics and one
// access log line per request with the right fields. The routes have no prometheus plugin:
// CountAllRequests counts them (TestPrometheusPlugin tests APISIX's default).
func TestMetricsAndAccessLog(t *testing.T) {
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
	l, err := accesslog.New(accesslog.Options{Format: accesslog.FormatJSON, Writer: &out,
		FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = l.Run(ctx); close(done) }()
	ok := backend(t, echo("ok"))
	dead := deadAddr(t)
	h := start(t, Options{Metrics: m, AccessLog: l, CountAllRequests: true}, upstream.Options{},
		"/apisix/routes/ok", route("/ok/*", "", "", ok),
		"/apisix/routes/dead", route("/dead", `"timeout":{"connect":0.2,"send":1,"read":1}`, `"retries":0`, dead))
	for _, p := range []string{"/ok/a", "/ok/b", "/dead", "/nowhere"} {
		resp, _ := get(t, h.base+p)
		resp.Body.Close()
	}
	cancel()
	<-done

	fams := scrape(t, m)
	tests := []struct {
		labels map[string]string
		want   float64
	}{
		{map[string]string{"code": "200", "route": "ok", "matched_uri": "/ok/*", "node": "127.0.0.1", "response_source": "upstream"}, 2},
		{map[string]string{"code": "502", "route": "dead", "matched_uri": "/dead", "response_source": "nginx"}, 1},
		{map[string]string{"code": "404", "route": "", "matched_uri": ""}, 1},
	}
	for _, tt := range tests {
		if got, found := value(fams, "apisix_http_status", tt.labels); !found || got != tt.want {
			t.Errorf("apisix_http_status%v = %v (found %v), want %v", tt.labels, got, found, tt.want)
		}
	}
	if n, found := value(fams, "apisix_http_latency", map[string]string{"type": "request", "route": "ok"}); !found || n != 2 {
		t.Errorf("request latency samples of route ok: %v, want 2", n)
	}
	if n, found := value(fams, "apisix_http_latency", map[string]string{"type": "upstream", "route": "ok"}); !found || n != 2 {
		t.Errorf("upstream latency samples of route ok: %v, want 2", n)
	}
	if b, found := value(fams, "apisix_bandwidth", map[string]string{"type": "egress", "route": "ok"}); !found || b < 100 {
		t.Errorf("egress bytes of route ok: %v", b)
	}

	lines := out.lines()
	if len(lines) != 4 {
		t.Fatalf("%d access log lines, want 4:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	want := []struct {
		uri, route string
		status     float64
		upstream   bool
	}{{"/ok/a", "ok", 200, true}, {"/ok/b", "ok", 200, true}, {"/dead", "dead", 502, true}, {"/nowhere", "", 404, false}}
	for i, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		w := want[i]
		if rec["uri"] != w.uri || rec["status"] != w.status || (w.route != "" && rec["route_id"] != w.route) {
			t.Errorf("line %d = %v, want uri %s status %v route %s", i, rec, w.uri, w.status, w.route)
		}
		if addr, _ := rec["upstream_addr"].(string); w.upstream != (addr != "") {
			t.Errorf("line %d upstream_addr %q", i, addr)
		}
	}
}

// TestPrometheusPlugin: as APISIX, the request metrics count only the requests whose route,
// service, consumer or global rule has the prometheus plugin (a global rule: 404s too), with
// the consumer label filled; CountAllRequests counts every request.
func TestPrometheusPlugin(t *testing.T) {
	up := backend(t, echo("ok"))
	kvs := func(extra ...string) []string {
		return append([]string{
			"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`,
			"/apisix/consumers/rose", `{"username":"rose","plugins":{"key-auth":{"key":"auth-two"},"prometheus":{}}}`,
			"/apisix/services/s", `{"plugins":{"prometheus":{}}}`,
			"/apisix/routes/plain", route("/plain", "", "", up),
			"/apisix/routes/prom", route("/prom", `"plugins":{"prometheus":{},"key-auth":{}}`, "", up),
			"/apisix/routes/svc", route("/svc", `"service_id":"s"`, "", up),
			"/apisix/routes/auth", route("/auth", `"plugins":{"key-auth":{}}`, "", up),
		}, extra...)
	}
	type count struct {
		labels map[string]string
		want   float64 // 0: no such series
	}
	tests := []struct {
		name     string
		countAll bool
		kvs      []string
		counts   []count
	}{
		{"route, service and consumer carry it", false, kvs(), []count{
			{map[string]string{"route": "plain"}, 0},
			{map[string]string{"route": "prom", "code": "200", "consumer": "jack"}, 1},
			{map[string]string{"route": "prom", "code": "401", "consumer": ""}, 1},
			{map[string]string{"route": "svc", "service": "s", "code": "200"}, 1},
			{map[string]string{"route": "auth", "consumer": "jack"}, 0},
			{map[string]string{"route": "auth", "code": "200", "consumer": "rose"}, 1},
			{map[string]string{"route": "", "code": "404"}, 0},
		}},
		{"a global rule counts everything", false, kvs("/apisix/global_rules/1", `{"plugins":{"prometheus":{}}}`), []count{
			{map[string]string{"route": "plain", "code": "200", "consumer": ""}, 1},
			{map[string]string{"route": "prom", "code": "200", "consumer": "jack"}, 1},
			{map[string]string{"route": "auth", "code": "200", "consumer": "jack"}, 1},
			{map[string]string{"route": "", "code": "404"}, 1},
		}},
		{"count_all_requests", true, kvs(), []count{
			{map[string]string{"route": "plain", "code": "200"}, 1},
			{map[string]string{"route": "auth", "code": "200", "consumer": "jack"}, 1},
			{map[string]string{"route": "", "code": "404"}, 1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := metrics.New(metrics.Options{})
			if err != nil {
				t.Fatal(err)
			}
			h := start(t, Options{Metrics: m, CountAllRequests: tt.countAll}, upstream.Options{}, tt.kvs...)
			for _, rq := range []struct{ path, key string }{
				{"/plain", ""}, {"/prom", "auth-one"}, {"/prom", ""}, {"/svc", ""},
				{"/auth", "auth-one"}, {"/auth", "auth-two"}, {"/nowhere", ""},
			} {
				req, _ := http.NewRequest(http.MethodGet, h.base+rq.path, nil)
				if rq.key != "" {
					req.Header.Set("apikey", rq.key)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			fams := scrape(t, m)
			for _, c := range tt.counts {
				got, found := value(fams, "apisix_http_status", c.labels)
				if c.want == 0 && found || c.want != 0 && got != c.want {
					t.Errorf("apisix_http_status%v = %v (found %v), want %v", c.labels, got, found, c.want)
				}
			}
			// The latency and bandwidth follow the status.
			if _, found := value(fams, "apisix_http_latency", map[string]string{"route": "plain"}); found != (tt.countAll || len(tt.kvs) > len(kvs())) {
				t.Errorf("latency of route plain found %v", found)
			}
		})
	}
}

// TestHeaderFilterAndLogOnOneRoute: a route with a header filter plugin (cors) and a log plugin
// (prometheus) gets both: the CORS headers on its answer, then its count, whether the upstream
// or a plugin (key-auth's 401) answered.
func TestHeaderFilterAndLogOnOneRoute(t *testing.T) {
	up := backend(t, echo("ok"))
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, Options{Metrics: m}, upstream.Options{},
		"/apisix/consumers/jack", `{"username":"jack","plugins":{"key-auth":{"key":"auth-one"}}}`,
		"/apisix/routes/r", route("/r", `"plugins":{"cors":{"allow_origins":"http://a.example"},"prometheus":{},"key-auth":{}}`, "", up))
	for _, tt := range []struct {
		name, key string
		code      int
	}{
		{"upstream answers", "auth-one", 200},
		{"a plugin answers", "", 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, h.base+"/r", nil)
		req.Header.Set("Origin", "http://a.example")
		if tt.key != "" {
			req.Header.Set("apikey", tt.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.code || resp.Header.Get("Access-Control-Allow-Origin") != "http://a.example" {
			t.Errorf("%s: %d, Access-Control-Allow-Origin %q; want %d and the origin", tt.name, resp.StatusCode,
				resp.Header.Get("Access-Control-Allow-Origin"), tt.code)
		}
	}
	fams := scrape(t, m)
	for _, code := range []string{"200", "401"} {
		if got, _ := value(fams, "apisix_http_status", map[string]string{"route": "r", "code": code}); got != 1 {
			t.Errorf("apisix_http_status{route=r,code=%s} = %v, want 1", code, got)
		}
	}
}

// TestPrometheusPreferName: under prefer_name the route and service labels are their names, where
// they have one; without it, and for an unnamed route, the ids.
func TestPrometheusPreferName(t *testing.T) {
	up := backend(t, echo("ok"))
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, Options{Metrics: m}, upstream.Options{},
		"/apisix/services/s", `{"name":"billing","plugins":{"prometheus":{"prefer_name":true}}}`,
		"/apisix/routes/named", route("/named", `"name":"invoices","service_id":"s"`, "", up),
		"/apisix/routes/unnamed", route("/unnamed", `"plugins":{"prometheus":{"prefer_name":true}}`, "", up),
		"/apisix/routes/ids", route("/ids", `"name":"by-id","plugins":{"prometheus":{}}`, "", up))
	for _, p := range []string{"/named", "/unnamed", "/ids"} {
		resp, _ := get(t, h.base+p)
		resp.Body.Close()
	}
	fams := scrape(t, m)
	for _, c := range []map[string]string{
		{"route": "invoices", "service": "billing", "code": "200"},
		{"route": "unnamed", "service": "", "code": "200"},
		{"route": "ids", "code": "200"},
	} {
		if got, found := value(fams, "apisix_http_status", c); !found || got != 1 {
			t.Errorf("apisix_http_status%v = %v (found %v), want 1", c, got, found)
		}
	}
	if _, found := value(fams, "apisix_http_status", map[string]string{"route": "named"}); found {
		t.Error("a series labelled with the id of a route counted under prefer_name")
	}
}

// TestRequestTimeSpansTheRequest: the request time the metrics and the access log report runs
// from the request's start, whichever of them asks for it. The server reads the clock for a
// request's start only when something will use it (fasthttp's LazyRequestTime, pinned by Handle
// and runPlugins); a start read at the end would give a request time near zero.
func TestRequestTimeSpansTheRequest(t *testing.T) {
	const delay = 50 * time.Millisecond
	slow := backend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // a slow upstream: the request time must include it
		_, _ = w.Write([]byte("ok"))
	}))
	for _, tt := range []struct {
		name     string
		countAll bool
		log      bool
		plugins  string
	}{
		{"access log", false, true, ""},
		{"count_all_requests", true, false, ""},
		{"prometheus plugin", false, false, `"plugins":{"prometheus":{}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := metrics.New(metrics.Options{})
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Metrics: m, CountAllRequests: tt.countAll}
			var out lockedBuffer
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			if tt.log {
				l, err := accesslog.New(accesslog.Options{Format: accesslog.FormatJSON, Writer: &out,
					FlushInterval: 10 * time.Millisecond})
				if err != nil {
					t.Fatal(err)
				}
				go func() { _ = l.Run(ctx); close(done) }()
				opts.AccessLog = l
			} else {
				close(done)
			}
			h := start(t, opts, upstream.Options{}, "/apisix/routes/r", route("/r", tt.plugins, "", slow))
			resp, body := get(t, h.base+"/r")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%d %q", resp.StatusCode, body)
			}
			cancel()
			<-done
			if tt.log {
				var rec struct {
					RequestTime float64 `json:"request_time"`
				}
				line := out.lines()[0]
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("%q: %v", line, err)
				}
				if rec.RequestTime < delay.Seconds() {
					t.Errorf("request_time %v s, want at least the upstream's %v: %s", rec.RequestTime, delay, line)
				}
				return
			}
			sum, found := latencySum(scrape(t, m), map[string]string{"type": "request", "route": "r"})
			if !found || sum < float64(delay.Milliseconds()) {
				t.Errorf("request latency of route r: %v ms (found %v), want at least the upstream's %v", sum, found, delay)
			}
		})
	}
}

// latencySum is the sum of the apisix_http_latency histogram whose labels include want, in ms.
func latencySum(fams map[string]*dto.MetricFamily, want map[string]string) (float64, bool) {
	if m := metric(fams, "apisix_http_latency", want); m != nil && m.Histogram != nil {
		return m.Histogram.GetSampleSum(), true
	}
	return 0, false
}
