package metrics_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/proxy/metrics"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// upstreamSeries renders the apisix_upstream_status series that m exports, sorted.
func upstreamSeries(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "apisix_upstream_status" {
			continue
		}
		for _, s := range mf.GetMetric() {
			var l []string
			for _, lp := range s.GetLabel() {
				l = append(l, lp.GetName()+"="+lp.GetValue())
			}
			out = append(out, fmt.Sprintf("{%s} %v", strings.Join(l, ","), s.GetGauge().GetValue()))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

// TestUpdatePoolsMatchesSetPools (issue 20 item 18): the series after a sequence of UpdatePools
// deltas are those that SetPools with the whole live set gives: upstreams with and without checks,
// inline ones named by their route, changed, moved and deleted, some with an ejected node.
func TestUpdatePoolsMatchesSetPools(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 18))
	full, inc := newMetrics(t, metrics.Options{}), newMetrics(t, metrics.Options{})
	reg := upstream.NewRegistry(upstream.Options{})
	specs := []string{
		`{"nodes":{"10.0.0.1:80":1,"10.0.0.2:8080":1},"checks":{"active":{"http_path":"/status"}}}`,
		`{"nodes":{"10.0.0.1:80":2,"10.0.0.3:80":1},"checks":{"active":{"http_path":"/status"}}}`,
		`{"nodes":{"10.0.0.4:80":1},"checks":{"active":{"type":"tcp"}}}`,
		`{"nodes":{"10.0.0.9:80":1}}`,
	}
	keys := []string{"/apisix/upstreams/1", "/apisix/upstreams/2", "/apisix/routes/7#upstream", "/apisix/services/s#upstream"}
	live := map[string]*upstream.Pool{}
	for step := range 200 {
		next := maps.Clone(live)
		for range 1 + rng.IntN(2) {
			key := keys[rng.IntN(len(keys))]
			if rng.IntN(4) == 0 {
				delete(next, key)
				continue
			}
			spec, err := upstream.Parse([]byte(specs[rng.IntN(len(specs))]))
			if err != nil {
				t.Fatal(err)
			}
			p, err := reg.Pool(key, spec)
			if err != nil {
				t.Fatal(err)
			}
			if n := p.Nodes()[0]; rng.IntN(3) == 0 && p.Spec().Checks != nil {
				n.ReportProbe(upstream.ProbeTCPFailure, 0)
				n.ReportProbe(upstream.ProbeTCPFailure, 0)
			}
			next[key] = p
		}
		var d upstream.Delta
		for key, p := range next {
			if live[key] != p {
				d.Added = append(d.Added, p)
			}
		}
		for key, p := range live {
			if next[key] != p {
				d.Removed = append(d.Removed, p)
			}
		}
		if step == 0 {
			d.Full = true
		}
		live = next
		full.SetPools(slices.Collect(maps.Values(live)))
		inc.UpdatePools(d)
		if got, want := upstreamSeries(t, inc), upstreamSeries(t, full); got != want {
			t.Fatalf("step %d: after UpdatePools\n%s\nafter SetPools\n%s", step, got, want)
		}
	}
	if upstreamSeries(t, full) == "" {
		t.Fatal("no series at the end: the sequence tested nothing")
	}
	inc.UpdatePools(upstream.Delta{Full: true})
	if got := upstreamSeries(t, inc); got != "" {
		t.Errorf("a Full delta with no pools left series:\n%s", got)
	}
}
