package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/zoneproxy/zoneproxy/proxy/metrics"
)

// families is one parsed scrape.
type families map[string]*dto.MetricFamily

// serve starts the metrics handler on a loopback port and returns its base URL.
func serve(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// scrape fetches and parses url+path.
func scrape(t *testing.T, url, path string) families {
	t.Helper()
	resp, err := http.Get(url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing %s: %v\n%s", path, err, body)
	}
	return fams
}

// find returns the metrics of family name whose labels include want.
func (f families) find(name string, want map[string]string) []*dto.Metric {
	fam := f[name]
	if fam == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range fam.GetMetric() {
		if hasLabels(m, want) {
			out = append(out, m)
		}
	}
	return out
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := make(map[string]string)
	for _, lp := range m.GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return false
		}
	}
	return true
}

// one returns the single metric of family name with labels want, failing otherwise.
func (f families) one(t *testing.T, name string, want map[string]string) *dto.Metric {
	t.Helper()
	ms := f.find(name, want)
	if len(ms) != 1 {
		t.Fatalf("%s%v: %d series, want 1; family has:\n%s", name, want, len(ms), f.dump(name))
	}
	return ms[0]
}

// value returns the counter, gauge or untyped value of the single series name{want}.
func (f families) value(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	m := f.one(t, name, want)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	t.Fatalf("%s%v is not a counter or gauge", name, want)
	return 0
}

// dump lists a family's series, for failure messages.
func (f families) dump(name string) string {
	fam := f[name]
	if fam == nil {
		return "  (no such family)"
	}
	var lines []string
	for _, m := range fam.GetMetric() {
		var ls []string
		for _, lp := range m.GetLabel() {
			ls = append(ls, lp.GetName()+"="+lp.GetValue())
		}
		lines = append(lines, "  {"+strings.Join(ls, ",")+"}")
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// labelNames returns the label names of family name's first series, in exposition order.
func (f families) labelNames(t *testing.T, name string) []string {
	t.Helper()
	fam := f[name]
	if fam == nil || len(fam.GetMetric()) == 0 {
		t.Fatalf("no series of %s", name)
	}
	var out []string
	for _, lp := range fam.GetMetric()[0].GetLabel() {
		out = append(out, lp.GetName())
	}
	return out
}

func newMetrics(t *testing.T, opts metrics.Options) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}
