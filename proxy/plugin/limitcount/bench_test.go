package limitcount

import (
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// BenchmarkAccess: one request counted and its quota headers set, per policy (redis: one
// EVALSHA to a redis-server on loopback).
func BenchmarkAccess(b *testing.B) {
	for _, tt := range []struct{ name, conf string }{
		{"local fixed", `{"count":1000000000,"time_window":3600}`},
		{"local fixed constant key", `{"count":1000000000,"time_window":3600,"key":"k","key_type":"constant"}`},
		{"local sliding", `{"count":1000000000,"time_window":3600,"window_type":"sliding"}`},
		{"redis", ""},
	} {
		b.Run(tt.name, func(b *testing.B) {
			conf := tt.conf
			if conf == "" {
				host, port, _ := net.SplitHostPort(testutil.StartRedis(b).Addr)
				conf = fmt.Sprintf(`{"count":1000000000,"time_window":3600,"policy":"redis","redis_host":%q,"redis_port":%s}`, host, port)
			}
			c := compile(b, Plugin, conf, nil)
			b.ReportAllocs()
			defer testutil.ReportCPUPerOp(b)()
			b.RunParallel(func(pb *testing.PB) {
				r := request("10.0.0.1", nil)
				for pb.Next() {
					if rep := c.Access(r); rep.Status != 0 {
						b.Fatalf("status %d", rep.Status)
					}
				}
			})
		})
	}
}

// BenchmarkAppendReset: X-RateLimit-Reset text, the integer path against the float formatting
// it replaced.
func BenchmarkAppendReset(b *testing.B) {
	buf := make([]byte, 0, 32)
	b.Run("int", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			buf = AppendReset(buf[:0], 3599.987-float64(i%3600))
		}
	})
	b.Run("float", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			buf = strconv.AppendFloat(buf[:0], float64(int64((3599.987-float64(i%3600))*100))/100, 'g', 14, 64)
		}
	})
}
