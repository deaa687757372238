//go:build !race

package transport

import (
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestTryAllocs: after warm-up, a GET or a POST on a pooled connection allocates nothing, counted
// over the whole process (transport and upstream). Both peek at the socket first
// (closedWhileIdle), which must not allocate either.
func TestTryAllocs(t *testing.T) {
	for _, tc := range []struct {
		name, method string
		body         []byte
	}{
		{"GET", fasthttp.MethodGet, nil},
		{"POST", fasthttp.MethodPost, []byte(strings.Repeat("b", 1024))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDirect(t, tc.method, tc.body)
			for i := 0; i < 100; i++ {
				d.try(t)
			}
			if allocs := testing.AllocsPerRun(500, func() { d.try(t) }); allocs != 0 {
				t.Errorf("%v allocations per try, want 0", allocs)
			}
		})
	}
}
