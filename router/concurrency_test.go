package router_test

import (
	"sync"
	"testing"

	"github.com/zoneproxy/zoneproxy/router"
)

// TestConcurrentMatch shares one table (and its pooled vars sources)
// between goroutines; run with -race.
func TestConcurrentMatch(t *testing.T) {
	tab, ids := buildTable(t, `[
		{"id":"a","uri":"/x","vars":[["arg_u","==","a"]]},
		{"id":"b","uri":"/x","vars":[["http_x_u","==","b"]]},
		{"id":"c","uri":"/x*","host":"*.c.com"},
		{"id":"d","uri":"/x"}
	]`, "", router.ModeHostURI)
	reqs := []struct {
		req  req
		want string
	}{
		{req{target: "/x?u=a"}, "a"},
		{req{target: "/x", headers: []string{"X-U: b"}}, "b"},
		{req{target: "/x", host: "q.c.com"}, "c"},
		{req{target: "/x?u=z"}, "d"},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 8; g++ {
		rq := reqs[g%len(reqs)]
		ctx := rq.req.ctx(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				res, ok := tab.Match(ctx)
				if !ok || ids[res.Value] != rq.want {
					errs <- rq.req.String()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("wrong route for %s under concurrency", e)
	}
}
