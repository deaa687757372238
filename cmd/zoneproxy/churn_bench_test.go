package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// BenchmarkChurn measures zoneproxy under configuration churn: 10,000 and 40,000 routes, 100 and
// 1,000 route updates per second for a few seconds. It reports the builds per second, the share of
// one CPU spent building snapshots, the propagation p50/p99 of a new route put during the churn, and
// the proxy's p99 on a steady route meanwhile. etcd runs in the same process on the same 2 cores, so
// the proxy figures include its load. Run with:
//
//	go test -run x -bench Churn -benchtime 1x -timeout 30m ./cmd/zoneproxy/
func BenchmarkChurn(b *testing.B) {
	for _, routes := range []int{10_000, 40_000} {
		for _, rate := range []int{100, 1000} {
			b.Run(fmt.Sprintf("routes=%d/changes=%d", routes, rate), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					churn(b, routes, rate, 8*time.Second)
				}
			})
		}
	}
}

var buildRe = regexp.MustCompile(`msg="configuration applied".* build=([0-9.]+)(µs|ms|s)`)

func churn(b *testing.B, routes, rate int, dur time.Duration) {
	cluster, files := startCluster(b)
	a := backend(b, "a")
	ctx := context.Background()
	ops := make([]clientv3.Op, 0, 100)
	route := func(i int, v string) string {
		return fmt.Sprintf(`{"uri":"/api/v1/r%d/%s/*","methods":["GET"],"upstream":{"nodes":{%q:1}}}`, i, v, a)
	}
	for i := 0; i < routes; i++ {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("/apisix/routes/%05d", i), route(i, "x")))
		if len(ops) == cap(ops) || i == routes-1 {
			if _, err := cluster.Client().Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	putKV(b, cluster, "/apisix/routes/steady", fmt.Sprintf(`{"uri":"/steady","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(b, instanceOpts{endpoints: cluster.Endpoints(), files: files, extra: "  log: {level: info}\n"})
	testutil.WaitFor(b, "the routes", 120*time.Second, serves(zp.proxy+"/steady", "", "a GET /steady"))
	logStart := len(zp.logs.String())

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // churn: rate updates per second, spread over the routes
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			k := i % routes
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, _ = cluster.Client().Put(cctx, fmt.Sprintf("/apisix/routes/%05d", k), route(k, strconv.Itoa(i)))
			cancel()
		}
	}()
	var proxyLat []time.Duration
	wg.Add(1)
	go func() { // a steady client on an unchanged route
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			if code, _ := httpGet(zp.proxy+"/steady", ""); code == 200 {
				proxyLat = append(proxyLat, time.Since(start))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var prop []time.Duration
	deadline := time.Now().Add(dur)
	for i := 0; time.Now().Before(deadline); i++ { // propagation of new routes during the churn
		path := fmt.Sprintf("/probe%d", i)
		start := time.Now()
		putKV(b, cluster, "/apisix/routes/probe"+strconv.Itoa(i), fmt.Sprintf(`{"uri":%q,"upstream":{"nodes":{%q:1}}}`, path, a))
		for {
			if code, _ := httpGet(zp.proxy+path, ""); code == 200 {
				break
			}
			if time.Since(start) > 20*time.Second {
				b.Fatalf("%s not served in 20s", path)
			}
			time.Sleep(time.Millisecond)
		}
		prop = append(prop, time.Since(start))
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	var builds int
	var buildTime time.Duration
	for _, m := range buildRe.FindAllStringSubmatch(zp.logs.String()[logStart:], -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
		builds++
		buildTime += time.Duration(v * float64(unit))
	}
	pct := func(d []time.Duration, p int) float64 {
		if len(d) == 0 {
			return 0
		}
		slices.Sort(d)
		return float64(d[(len(d)-1)*p/100].Microseconds()) / 1000
	}
	secs := dur.Seconds()
	b.ReportMetric(float64(builds)/secs, "builds/s")
	b.ReportMetric(100*buildTime.Seconds()/secs, "build-cpu-%")
	b.ReportMetric(pct(prop, 50), "prop-p50-ms")
	b.ReportMetric(pct(prop, 99), "prop-p99-ms")
	b.ReportMetric(pct(proxyLat, 50), "proxy-p50-ms")
	b.ReportMetric(pct(proxyLat, 99), "proxy-p99-ms")
	if strings.Contains(zp.logs.String(), "could not build") {
		b.Errorf("a build failed under churn")
	}
	zp.stop()
}
