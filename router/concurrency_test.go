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

// TestConcurrentUpdate matches on a table while other goroutines derive
// tables from it (and from each other) with Update; run with -race: an
// Update that wrote to a node it shares with its receiver would race.
func TestConcurrentUpdate(t *testing.T) {
	routes := genRoutes(2000)
	compiled := compileAll(t, routes)
	base, err := router.New(compiled, router.ModeHostURI)
	if err != nil {
		t.Fatal(err)
	}
	reqs := benchRequests(routes)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := 0; g < 4; g++ {
		rq := reqs[g%len(reqs)]
		ctx := rq.req.ctx(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				res, ok := base.Match(ctx)
				if (rq.want < 0) == ok || ok && res.Value != rq.want {
					errs <- rq.req.String()
					return
				}
			}
		}()
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tab := base
			for i := g; i < len(compiled); i += 7 {
				r := routes[i]
				r.Value = -1
				c, err := router.Compile(r)
				if err != nil {
					errs <- err.Error()
					return
				}
				if tab, err = tab.Update([]*router.Compiled{compiled[i]}, []*router.Compiled{c}); err != nil {
					errs <- err.Error()
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent Update: %s", e)
	}
}
