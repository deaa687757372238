package metrics

import (
	"sync"
	"testing"
	"time"
)

// TestIdleRouteHoldsNoTable: a route that has not served a request shares the empty table and has
// no node map, the common case in a large configuration; its first request gives it its own
// table; once all its series expired it goes back to sharing.
func TestIdleRouteHoldsNoTable(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m, err := New(Options{Expire: time.Minute, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	rm := m.ForRoute(RouteLabels{Route: "1"})
	if rm.tab.Load() != emptyTable || rm.nodes != nil {
		t.Fatal("a new route has a table or node map of its own")
	}
	if st, nodes := rm.scrape(now, time.Minute, len(m.bounds)); st != nil || nodes != nil {
		t.Errorf("an idle route scraped %v, %v", st, nodes)
	}
	s := Sample{Code: 200, Node: "a", Request: time.Millisecond}
	rm.Observe(&s)
	if tab := rm.tab.Load(); tab == emptyTable || len(tab.slots) != initialSlots || tab.n != 1 {
		t.Fatalf("after one request: shared %v, %d slots, %d series", tab == emptyTable, len(tab.slots), tab.n)
	}
	if emptyTable.n != 0 || emptyTable.slots[0].Load() != nil {
		t.Fatal("the shared empty table was written to")
	}
	st, _ := rm.scrape(now, time.Minute, len(m.bounds))
	if len(st) != 1 || st[0].count != 1 {
		t.Fatalf("scraped %+v, want one series counted once", st)
	}
	now = now.Add(2 * time.Minute)
	rm.scrape(now, time.Minute, len(m.bounds))
	if rm.tab.Load() != emptyTable || rm.nodes != nil {
		t.Error("a route whose series all expired kept its table")
	}
	rm.Observe(&s)
	if st, _ := rm.scrape(now, time.Minute, len(m.bounds)); len(st) != 1 || st[0].count != 1 {
		t.Errorf("after restarting: %+v", st)
	}
}

// TestRouteHandleIsLazy: a route's first request makes its handle, the one its labels find from
// every route that has them.
func TestRouteHandleIsLazy(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := len(m.routes)
	var first, second RouteHandle
	l := RouteLabels{Route: "7", Service: "s"}
	rm := first.Get(m, l)
	if n := len(m.routes) - before; n != 1 || m.routes[l] != rm {
		t.Fatalf("after one route's first request: %d handles, the labels' handle %v, want 1 and %v", n, m.routes[l], rm)
	}
	if other := second.Get(m, l); other != rm {
		t.Errorf("another route with the same labels got another handle")
	}
}

// TestRetireRacesFirstRequest: whether a route's first request comes before, during or after
// Retire, the retired labels are gone once Retire has returned. (Run with -race.)
func TestRetireRacesFirstRequest(t *testing.T) {
	m, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		l := RouteLabels{Route: "r"}
		var h RouteHandle
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				h.Get(m, l)
			}()
		}
		close(start)
		m.Retire(Retirement{Labels: []RouteLabels{l}, Handles: []*RouteHandle{&h}})
		wg.Wait()
		m.mu.Lock()
		_, left := m.routes[l]
		m.mu.Unlock()
		if left {
			t.Fatalf("round %d: the retired labels have a handle after Retire", i)
		}
	}
}
