//go:build !race

package transport

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// TestTryAllocs: after warm-up, a GET on a pooled connection allocates nothing, counted over the
// whole process (transport and upstream). (A POST there peeks at the socket first,
// closedWhileIdle, which allocates its sock; see BenchmarkTry.)
func TestTryAllocs(t *testing.T) {
	d := newDirect(t, fasthttp.MethodGet, nil)
	for i := 0; i < 100; i++ {
		d.try(t)
	}
	if allocs := testing.AllocsPerRun(500, func() { d.try(t) }); allocs != 0 {
		t.Errorf("%v allocations per try, want 0", allocs)
	}
}
