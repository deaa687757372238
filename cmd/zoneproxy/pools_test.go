package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// TestPoolSyncFollowsChurn: the upstream pools' health checks and apisix_upstream_status follow
// the configuration through a burst of upstream changes to its last state, and go when the
// upstream goes.
func TestPoolSyncFollowsChurn(t *testing.T) {
	cluster, files := startCluster(t)
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	var checks1, checks2 atomic.Int64
	backendWithChecks := func(name string, n *atomic.Int64) string {
		return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/healthz" {
				n.Add(1)
			}
			_, _ = io.WriteString(w, name)
		})
	}
	b1, b2 := backendWithChecks("one", &checks1), backendWithChecks("two", &checks2)
	upstreamJSON := func(node string, weight int) string {
		return fmt.Sprintf(`{"nodes":{%q:%d},"checks":{"active":{"http_path":"/healthz",`+
			`"healthy":{"interval":1},"unhealthy":{"interval":1}}}}`, node, weight)
	}
	series := func(node string) string {
		host, port, _ := strings.Cut(node, ":")
		return fmt.Sprintf(`apisix_upstream_status{ip=%q,name="/apisix/upstreams/u",port=%q} 1`, host, port)
	}
	scrape := func() string {
		resp, err := http.Get(zp.metrics + "/apisix/prometheus/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	putKV(t, cluster, "/apisix/upstreams/u", upstreamJSON(b1, 1))
	putKV(t, cluster, "/apisix/routes/r", `{"uri":"/r","upstream_id":"u"}`)
	testutil.WaitFor(t, "the route", 10*time.Second, serves(zp.proxy+"/r", "", "one"))
	testutil.WaitFor(t, "active checks of the first node", 10*time.Second, func() bool { return checks1.Load() > 0 })
	testutil.WaitFor(t, "the first node's status series", 10*time.Second, func() bool { return strings.Contains(scrape(), series(b1)) })

	// A burst of changes, faster than the sync interval, ending on the second node.
	for w := 2; w <= 30; w++ {
		putKV(t, cluster, "/apisix/upstreams/u", upstreamJSON(b1, w))
	}
	putKV(t, cluster, "/apisix/upstreams/u", upstreamJSON(b2, 1))
	testutil.WaitFor(t, "the route on the second node", 10*time.Second, serves(zp.proxy+"/r", "", "two"))
	testutil.WaitFor(t, "active checks of the second node", 10*time.Second, func() bool { return checks2.Load() > 0 })
	testutil.WaitFor(t, "the status series of the second node only", 10*time.Second, func() bool {
		m := scrape()
		return strings.Contains(m, series(b2)) && !strings.Contains(m, series(b1)[:strings.LastIndex(series(b1), " ")])
	})

	delKV(t, cluster, "/apisix/routes/r")
	delKV(t, cluster, "/apisix/upstreams/u")
	testutil.WaitFor(t, "no status series once the upstream is gone", 10*time.Second, func() bool {
		m := scrape()
		return m != "" && !strings.Contains(m, `name="/apisix/upstreams/u"`)
	})
}
