//go:build !race

package limitcount

import (
	"testing"
)

// TestAccessAllocs: counting a known key and writing the quota headers allocates nothing.
func TestAccessAllocs(t *testing.T) {
	for _, conf := range []string{
		`{"count":1000000000,"time_window":3600}`,
		`{"count":1000000000,"time_window":3600,"key":"x","key_type":"constant"}`,
		`{"count":1000000000,"time_window":3600,"window_type":"sliding"}`,
		`{"rules":[{"count":1000000000,"time_window":3600,"key":"$remote_addr"},{"count":1000000000,"time_window":60,"key":"k-$remote_addr"}]}`,
	} {
		c := compile(t, Plugin, conf, nil)
		r := request("10.0.0.1", nil)
		c.Access(r)
		if n := testing.AllocsPerRun(1000, func() { c.Access(r) }); n != 0 {
			t.Errorf("%s: %v allocs per request, want 0", conf, n)
		}
	}
}
