package main

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkPropagation measures the time from an etcd put to the proxy serving the new route, through
// the whole chain: watch, coalescing window, snapshot build, swap. Each iteration puts one route and
// polls the proxy until it answers 200.
//
//	go test -run x -bench Propagation -benchtime 1000x ./cmd/zoneproxy/
//
// It runs once per control-plane transport (gRPC and the HTTP/JSON gateway).
func BenchmarkPropagation(b *testing.B) {
	for _, transport := range []string{"grpc", "http"} {
		b.Run(transport, func(b *testing.B) { propagation(b, transport) })
	}
}

func propagation(b *testing.B, transport string) {
	cluster, files := startCluster(b)
	a := backend(b, "a")
	zp := startZoneproxy(b, instanceOpts{endpoints: cluster.Endpoints(), files: files, extra: "  cp_transport: " + transport + "\n"})
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		path := fmt.Sprintf("/p%d", i)
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := cluster.Client().Put(ctx, "/apisix/routes/p"+fmt.Sprint(i),
			fmt.Sprintf(`{"uri":%q,"upstream":{"nodes":{%q:1}}}`, path, a))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		for {
			if code, _ := httpGet(zp.proxy+path, ""); code == 200 {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("route %s not served after 10s", path)
			}
			time.Sleep(500 * time.Microsecond)
		}
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkStartWith10kRoutes measures a full list of 10,000 routes and the build and swap of their
// snapshot: the time from starting zoneproxy against a populated control plane to it serving the
// last route.
//
//	go test -run x -bench StartWith10k -benchtime 5x ./cmd/zoneproxy/
func BenchmarkStartWith10kRoutes(b *testing.B) {
	cluster, files := startCluster(b)
	a := backend(b, "a")
	ctx := context.Background()
	const n = 10_000
	ops := make([]clientv3.Op, 0, 100)
	for i := 0; i < n; i++ {
		ops = append(ops, clientv3.OpPut(fmt.Sprintf("/apisix/routes/%05d", i),
			fmt.Sprintf(`{"uri":"/api/v1/r%d/*","methods":["GET"],"upstream":{"nodes":{%q:1}}}`, i, a)))
		if len(ops) == cap(ops) {
			if _, err := cluster.Client().Txn(ctx).Then(ops...).Commit(); err != nil {
				b.Fatal(err)
			}
			ops = ops[:0]
		}
	}
	last := fmt.Sprintf("/api/v1/r%d/x", n-1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		zp := startZoneproxy(b, instanceOpts{endpoints: cluster.Endpoints(), files: files})
		start := time.Now()
		for {
			if code, _ := httpGet(zp.proxy+last, ""); code == 200 {
				break
			}
			if time.Since(start) > 60*time.Second {
				b.Fatal("not served")
			}
			time.Sleep(time.Millisecond)
		}
		b.StopTimer()
		zp.stop()
		b.StartTimer()
	}
}
