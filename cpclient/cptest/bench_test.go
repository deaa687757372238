package cptest

import (
	"context"
	"testing"
	"time"
)

// BenchmarkStart measures starting and closing a cluster; start-ms and
// close-ms split the time between the two.
func BenchmarkStart(b *testing.B) {
	benches := []struct {
		name string
		opts Options
	}{
		{"1member-3endpoints", Options{Members: 1}},
		{"3members-3endpoints", Options{Members: 3}},
	}
	for _, bb := range benches {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			var start, stop time.Duration
			for b.Loop() {
				c, err := Start(context.Background(), bb.opts)
				if err != nil {
					b.Fatal(err)
				}
				start += c.StartupTime()
				t0 := time.Now()
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
				stop += time.Since(t0)
			}
			b.ReportMetric(float64(start.Milliseconds())/float64(b.N), "start-ms")
			b.ReportMetric(float64(stop.Milliseconds())/float64(b.N), "close-ms")
		})
	}
}
