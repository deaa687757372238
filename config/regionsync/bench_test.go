package regionsync

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// benchFile is a standalone file of n routes, each with its own inline upstream; the first
// changed ones carry another uri.
func benchFile(n, changed int) Objects {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i := range n {
		v := ""
		if i < changed {
			v = "/v2"
		}
		fmt.Fprintf(&b, "  - {id: r%05d, uri: /api/v1/items/%d%s, methods: [GET, POST], labels: {team: t%d}, "+
			"plugins: {limit-count: {count: 100, time_window: 60}}, upstream: {nodes: {\"10.0.%d.%d:80\": 1}}}\n",
			i, i, v, i%10, i>>8&255, i&255)
	}
	objs, err := Load([]Input{{Name: "bench.yaml", Data: []byte(b.String())}}, nil, nil, nil)
	if err != nil {
		panic(err)
	}
	return objs
}

func clear(b *testing.B, rs []*region) {
	for _, r := range rs {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := r.cluster.Client().Delete(ctx, "/apisix/", clientv3.WithPrefix())
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
}

func benchApply(b *testing.B, rs []*region, objs Objects) (writes int) {
	for _, res := range Apply(context.Background(), objs, targets(rs), Options{}) {
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		writes += len(res.Plan.Changes)
	}
	return writes
}

// BenchmarkSync10k: 10,000 routes, three regions (embedded etcd on loopback, etcd's default
// --max-txn-ops 128), all regions in parallel. writes/op counts the objects written over the three
// regions: only the changed ones.
//
//	go test -run '^$' -bench Sync10k -benchtime 3x -benchmem ./config/regionsync
func BenchmarkSync10k(b *testing.B) {
	const n = 10_000
	rs := startRegions(b, "eu", "us", "ap")
	base, changed := benchFile(n, 0), benchFile(n, n/100)

	b.Run("from-empty", func(b *testing.B) {
		var writes int
		for b.Loop() {
			b.StopTimer()
			clear(b, rs)
			b.StartTimer()
			writes = benchApply(b, rs, base)
		}
		b.ReportMetric(float64(writes), "writes/op")
	})
	b.Run("diff-unchanged", func(b *testing.B) {
		clear(b, rs)
		benchApply(b, rs, base)
		for b.Loop() {
			for _, r := range Diff(context.Background(), base, targets(rs), Options{}) {
				if r.Err != nil || len(r.Plan.Changes) != 0 {
					b.Fatalf("%+v", r)
				}
			}
		}
	})
	b.Run("diff-1pct", func(b *testing.B) {
		for b.Loop() {
			for _, r := range Diff(context.Background(), changed, targets(rs), Options{}) {
				if r.Err != nil || len(r.Plan.Changes) != n/100 {
					b.Fatalf("%s: %v, %d changes", r.Target, r.Err, len(r.Plan.Changes))
				}
			}
		}
	})
	b.Run("apply-1pct", func(b *testing.B) {
		var writes int
		for i := 0; b.Loop(); i++ {
			// Alternate between the two files so that each round changes 1 %.
			objs := changed
			if i%2 == 1 {
				objs = base
			}
			writes = benchApply(b, rs, objs)
		}
		b.ReportMetric(float64(writes), "writes/op")
	})
}
