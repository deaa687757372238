package cpclient

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/cpclient/tlsfiles"
)

// benchmarkFailover measures, with the production defaults (250 ms probes, 1 s probe timeout), the
// time from breaking the endpoint in use to the Client using the next one. Run it with a fixed
// count: go test -run x -bench Failover -benchtime 20x ./cpclient/
func benchmarkFailover(b *testing.B, breakIt func(*cptest.Endpoint)) {
	cluster := cptest.StartT(b, cptest.Options{Endpoints: 2, Members: 1})
	files, err := cluster.WriteFiles(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	loader, err := tlsfiles.New(tlsfiles.Files{CA: files.CA, Cert: files.Cert, Key: files.Key, Verify: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{
		Endpoints: cluster.Endpoints(), TLS: loader.Config,
		FailbackAfter: 300 * time.Millisecond, BackoffMin: 100 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}, func(context.Context, *state.State) {})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	eps := cluster.Endpoints()
	wait := func(url string) time.Time {
		deadline := time.Now().Add(30 * time.Second)
		for c.Status().Current != url {
			if time.Now().After(deadline) {
				b.Fatalf("never switched to %s", url)
			}
			time.Sleep(time.Millisecond)
		}
		return time.Now()
	}
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		wait(eps[0])
		// A settled session, broken at a random phase of the probe schedule, as in production.
		time.Sleep(300*time.Millisecond + time.Duration(rand.Int64N(int64(250*time.Millisecond))))
		b.StartTimer()
		start := time.Now()
		breakIt(cluster.Endpoint(0))
		took = append(took, wait(eps[1]).Sub(start))
		b.StopTimer()
		if err := cluster.Endpoint(0).Restore(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Milliseconds()), "median-ms")
	b.ReportMetric(float64(took[len(took)-1].Milliseconds()), "max-ms")
}

func BenchmarkFailoverRefused(b *testing.B) {
	benchmarkFailover(b, func(e *cptest.Endpoint) { e.Stop() })
}

func BenchmarkFailoverBlackhole(b *testing.B) {
	benchmarkFailover(b, func(e *cptest.Endpoint) {
		if err := e.Blackhole(); err != nil {
			panic(err)
		}
	})
}
