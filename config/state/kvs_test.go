package state

import (
	"fmt"
	"maps"
	"reflect"
	"runtime"
	"sync/atomic"
	"testing"
)

func kvOf(k, v string, rev int64) KV { return KV{Key: k, Value: []byte(v), ModRevision: rev} }

// TestKVsCopyOnWrite: a frozen KVs never changes, whatever the builder does next; the next one
// shares every shard no change touched.
func TestKVsCopyOnWrite(t *testing.T) {
	want := map[string]KV{}
	var b Builder
	for i := range 1000 {
		k := fmt.Sprintf("/apisix/routes/%d", i)
		b.Set(k, kvOf(k, "v1", int64(i+1)))
		want[k] = kvOf(k, "v1", int64(i+1))
	}
	first := b.Freeze()
	b.Set("/apisix/routes/1", kvOf("/apisix/routes/1", "v2", 2000))
	b.Delete("/apisix/routes/2")
	b.Delete("/apisix/routes/missing")
	b.Set("/apisix/routes/new", kvOf("/apisix/routes/new", "v1", 2001))
	second := b.Freeze()

	if got := first.Map(); !reflect.DeepEqual(got, want) || first.Len() != 1000 {
		t.Fatalf("the first KVs changed after freezing: %d keys", first.Len())
	}
	want2 := maps.Clone(want)
	want2["/apisix/routes/1"] = kvOf("/apisix/routes/1", "v2", 2000)
	delete(want2, "/apisix/routes/2")
	want2["/apisix/routes/new"] = kvOf("/apisix/routes/new", "v1", 2001)
	if got := second.Map(); !reflect.DeepEqual(got, want2) || second.Len() != len(want2) {
		t.Fatalf("second KVs: %d keys, want %d", second.Len(), len(want2))
	}
	touched := map[int]bool{}
	for _, k := range []string{"/apisix/routes/1", "/apisix/routes/2", "/apisix/routes/new"} {
		touched[shardOf(k)] = true
	}
	for i := range kvShards {
		same := reflect.ValueOf(first.t.shards[i]).UnsafePointer() == reflect.ValueOf(second.t.shards[i]).UnsafePointer()
		if same == touched[i] && first.t.shards[i] != nil {
			t.Errorf("shard %d: shared %v, touched %v", i, same, touched[i])
		}
	}
}

// TestKVsWith: With derives a changed copy and leaves its receiver alone; the zero KVs is empty.
func TestKVsWith(t *testing.T) {
	var zero KVs
	if zero.Len() != 0 || zero.Has("x") || len(zero.Keys()) != 0 {
		t.Fatal("the zero KVs is not empty")
	}
	a := NewKVs(map[string]KV{"/a": kvOf("/a", "1", 1), "/b": kvOf("/b", "1", 2)})
	b := a.With([]KV{kvOf("/c", "1", 3), kvOf("/a", "2", 4)}, []string{"/b", "/nothing"})
	if got := a.Keys(); !reflect.DeepEqual(got, []string{"/a", "/b"}) {
		t.Errorf("receiver changed: %q", got)
	}
	if got := b.Keys(); !reflect.DeepEqual(got, []string{"/a", "/c"}) || b.Len() != 2 {
		t.Errorf("With: %q (%d)", got, b.Len())
	}
	if kv, _ := b.Get("/a"); string(kv.Value) != "2" {
		t.Errorf("/a = %q, want 2", kv.Value)
	}
	if kv, _ := a.Get("/a"); string(kv.Value) != "1" {
		t.Errorf("receiver /a = %q, want 1", kv.Value)
	}
}

// BenchmarkStateCopy: what handing out a State costs at 10,000 keys when two changed, against
// copying a plain map.
func BenchmarkStateCopy(b *testing.B) {
	const n = 10_000
	m := make(map[string]KV, n)
	var kb Builder
	for i := range n {
		k := fmt.Sprintf("/apisix/routes/%d", i)
		m[k] = kvOf(k, `{"uri":"/x"}`, int64(i))
		kb.Set(k, m[k])
	}
	b.Run("map-clone", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			m[fmt.Sprintf("/apisix/routes/%d", i%n)] = kvOf("k", "v", int64(i))
			_ = maps.Clone(m)
		}
	})
	b.Run("kvs-freeze", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			kb.Set(fmt.Sprintf("/apisix/routes/%d", i%n), kvOf("k", "v", int64(i)))
			kb.Set(fmt.Sprintf("/apisix/routes/%d", (i+5000)%n), kvOf("k", "v", int64(i)))
			_ = kb.Freeze()
		}
	})
}

// BenchmarkKVsMemory: the heap a KVs of 10,000 routes holds, values included (the bench's route
// JSON is about 80 bytes).
func BenchmarkKVsMemory(b *testing.B) {
	const n = 10_000
	keys := make([]string, n)
	values := make([][]byte, n)
	for i := range n {
		keys[i] = fmt.Sprintf("/apisix/routes/r%05d", i)
		values[i] = fmt.Appendf(nil, `{"name":"r%05d","upstream_id":"1","uri":"/api/v1/tenants/t%02d/services/s%02d/*"}`, i, i/100, i%100)
	}
	var kvs KVs
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var kb Builder
		for i := range n {
			kb.Set(keys[i], KV{Key: keys[i], Value: values[i], ModRevision: int64(i)})
		}
		kvs = kb.Freeze()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/key")
	}
	runtime.KeepAlive(kvs)
}

// TestKVsSorted: the merge of the shards yields every KV once, in key order, and its pointers
// are the KVs themselves.
func TestKVsSorted(t *testing.T) {
	for _, n := range []int{0, 1, 2, 255, 1000, 3000} {
		m := map[string]KV{}
		for i := range n {
			k := fmt.Sprintf("/apisix/routes/%x", i*7919)
			m[k] = kvOf(k, fmt.Sprint(i), int64(i+1))
		}
		kvs := NewKVs(m)
		got := kvs.Sorted()
		keys := kvs.Keys()
		if len(got) != len(keys) {
			t.Fatalf("n=%d: %d KVs, want %d", n, len(got), len(keys))
		}
		for i, kv := range got {
			if kv.Key != keys[i] || !reflect.DeepEqual(*kv, m[keys[i]]) {
				t.Fatalf("n=%d: KV %d is %q, want %q", n, i, kv.Key, keys[i])
			}
		}
	}
	if got := (KVs{}).Sorted(); len(got) != 0 {
		t.Errorf("the zero KVs sorted to %d KVs", len(got))
	}
}

// TestSortedYields: ordering a large KVs (for the state file) lets another goroutine run before it
// finishes, even on a single processor.
func TestSortedYields(t *testing.T) {
	m := map[string]KV{}
	for i := range 4 * yieldEvery {
		k := fmt.Sprintf("/apisix/routes/%d", i)
		m[k] = kvOf(k, "{}", int64(i+1))
	}
	kvs := NewKVs(m)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ran atomic.Bool
	go func() { ran.Store(true) }() // runnable, but this goroutine keeps the processor
	kvs.Sorted()
	if !ran.Load() {
		t.Errorf("no other goroutine ran while Sorted worked")
	}
}
