package limit

import (
	"fmt"
	"sync"
	"testing"
)

type counter struct {
	n     int64
	until int64 // stale after this time
}

func TestTableSameCounterPerKey(t *testing.T) {
	tb := NewTable[counter](nil)
	a := tb.Get([]byte("a"), 0)
	if tb.Get([]byte("a"), 0) != a {
		t.Fatal("a second Get of a key made a new counter")
	}
	if tb.Get([]byte("b"), 0) == a {
		t.Fatal("two keys share a counter")
	}
	// Enough lookups to move the keys to the read-only map: still the same counters.
	for range 10 {
		if tb.Get([]byte("a"), 0) != a {
			t.Fatal("the counter changed when its key moved to the read-only map")
		}
	}
	if n := tb.Len(); n != 2 {
		t.Fatalf("Len %d, want 2", n)
	}
}

// TestTableMadeAsKeysCome: a Table no request used holds no shard (every route with a limit
// plugin has one); its first key makes the shards' array and one shard, and keys add shards only
// as they land in new ones. Each Get in between finds the counters it made.
func TestTableMadeAsKeysCome(t *testing.T) {
	tb := NewTable[counter](nil)
	made := func() int {
		all := tb.shards.Load()
		if all == nil {
			return -1
		}
		n := 0
		for i := range all {
			if all[i].Load() != nil {
				n++
			}
		}
		return n
	}
	if n := made(); n != -1 || tb.Len() != 0 {
		t.Fatalf("a new table made its shards (%d) or holds keys (%d)", n, tb.Len())
	}
	first := tb.Get([]byte("198.51.100.7"), 0)
	if n := made(); n != 1 {
		t.Fatalf("%d shards after one key, want 1", n)
	}
	counters := map[string]*counter{"198.51.100.7": first}
	for i := range 3000 { // every shard gets a key: each misses all 3,000 with odds of e^-47
		k := fmt.Sprintf("key-%d", i)
		counters[k] = tb.Get([]byte(k), 0)
	}
	if n := made(); n != shards {
		t.Fatalf("%d shards after 3,001 keys, want all %d", n, shards)
	}
	for k, c := range counters {
		if tb.Get([]byte(k), 0) != c {
			t.Fatalf("key %s lost its counter", k)
		}
	}
	if tb.Len() != len(counters) {
		t.Fatalf("Len %d, want %d", tb.Len(), len(counters))
	}
}

// TestTableSweepsStale: keys whose counters went stale are dropped as new keys come, from the
// read-only maps too; live ones keep their counters.
func TestTableSweepsStale(t *testing.T) {
	tb := NewTable(func(c *counter, now int64) bool { return c.until < now })
	live := tb.Get([]byte("live"), 0)
	live.until = 1 << 62
	for i := range 5000 {
		c := tb.Get(fmt.Appendf(nil, "old-%d", i), 0)
		c.until = 10
	}
	for i := range 5000 {
		tb.Get(fmt.Appendf(nil, "new-%d", i), 100)
	}
	if tb.Get([]byte("live"), 100) != live {
		t.Fatal("a live key lost its counter in a sweep")
	}
	if n := tb.Len(); n > 5000+1+shards*16 {
		t.Fatalf("%d keys held after 5,000 went stale and 5,000 came: stale keys were not swept", n)
	}
	// A swept key gets a fresh counter.
	old := tb.Get([]byte("old-1"), 100)
	if old.n != 0 || old.until != 0 {
		t.Fatalf("old-1 after its sweep: %+v, want a new counter", *old)
	}
}

// TestTableConcurrent: goroutines racing on the same new keys all get one counter per key.
func TestTableConcurrent(t *testing.T) {
	tb := NewTable[counter](nil)
	const keys, workers = 500, 8
	got := make([][]*counter, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range keys {
				got[w] = append(got[w], tb.Get(fmt.Appendf(nil, "k%d", i), 0))
			}
		}()
	}
	wg.Wait()
	for w := 1; w < workers; w++ {
		for i := range keys {
			if got[w][i] != got[0][i] {
				t.Fatalf("key k%d: two counters", i)
			}
		}
	}
	if n := tb.Len(); n != keys {
		t.Fatalf("Len %d, want %d", n, keys)
	}
}

func TestTableGetAllocs(t *testing.T) {
	tb := NewTable[counter](nil)
	key := []byte("198.51.100.7")
	for range 100 {
		tb.Get(key, 0) // into the read-only map
	}
	if n := testing.AllocsPerRun(1000, func() { tb.Get(key, 0) }); n != 0 {
		t.Fatalf("%v allocations per Get of a held key", n)
	}
}

// BenchmarkTableGet: a held key, from every P at once (-cpu 1,2): no lock, no shared write.
func BenchmarkTableGet(b *testing.B) {
	tb := NewTable[counter](nil)
	key := []byte("198.51.100.7")
	for range 100 {
		tb.Get(key, 0)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tb.Get(key, 0)
		}
	})
}
