package fingerprint

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
)

const prefix = "/apisix"

func TestSameConfigurationSameFingerprint(t *testing.T) {
	base := map[string][]byte{
		"/apisix/routes/1":     []byte(`{"id":"1","uri":"/a","upstream_id":"u1","priority":0}`),
		"/apisix/upstreams/u1": []byte(`{"nodes":{"127.0.0.1:80":1},"type":"roundrobin"}`),
	}
	want := Of(prefix, base)
	tests := []struct {
		name   string
		prefix string
		kvs    map[string][]byte
	}{
		{"key order and spaces", prefix, map[string][]byte{
			"/apisix/routes/1":     []byte(`{ "priority": 0, "upstream_id": "u1", "uri": "/a" }`),
			"/apisix/upstreams/u1": []byte("{\"type\":\"roundrobin\",\n \"nodes\":{\"127.0.0.1:80\":1}}"),
		}},
		{"times and id dropped", prefix, map[string][]byte{
			"/apisix/routes/1":     []byte(`{"uri":"/a","upstream_id":"u1","priority":0,"create_time":1,"update_time":2}`),
			"/apisix/upstreams/u1": []byte(`{"id":"u1","nodes":{"127.0.0.1:80":1},"type":"roundrobin","update_time":9}`),
		}},
		{"numbers in another form", prefix, map[string][]byte{
			"/apisix/routes/1":     []byte(`{"uri":"/a","upstream_id":"u1","priority":0.0}`),
			"/apisix/upstreams/u1": []byte(`{"nodes":{"127.0.0.1:80":1e0},"type":"roundrobin"}`),
		}},
		{"keys that do not count", prefix, map[string][]byte{
			"/apisix/routes/1":                 []byte(`{"uri":"/a","upstream_id":"u1","priority":0}`),
			"/apisix/upstreams/u1":             []byte(`{"nodes":{"127.0.0.1:80":1},"type":"roundrobin"}`),
			"/apisix/routes":                   []byte(`init_dir`),
			"/apisix/routes/":                  []byte(`{}`),
			"/apisix/data_plane/server_info/x": []byte(`{"id":"x"}`),
			"/apisix/upstreams/u2":             []byte(`not json`),
			"/other/routes/1":                  []byte(`{"uri":"/b"}`),
		}},
		{"another prefix", "/region-b", map[string][]byte{
			"/region-b/routes/1":     []byte(`{"uri":"/a","upstream_id":"u1","priority":0}`),
			"/region-b/upstreams/u1": []byte(`{"nodes":{"127.0.0.1:80":1},"type":"roundrobin"}`),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(tt.prefix, tt.kvs); got != want {
				t.Errorf("fingerprint %s, want %s", got, want)
			}
		})
	}
}

func TestDifferentConfigurationDifferentFingerprint(t *testing.T) {
	base := Of(prefix, map[string][]byte{"/apisix/routes/1": []byte(`{"uri":"/a"}`)})
	tests := []struct {
		name string
		kvs  map[string][]byte
	}{
		{"empty", map[string][]byte{}},
		{"another value", map[string][]byte{"/apisix/routes/1": []byte(`{"uri":"/b"}`)}},
		{"another id", map[string][]byte{"/apisix/routes/2": []byte(`{"uri":"/a"}`)}},
		{"another kind", map[string][]byte{"/apisix/services/1": []byte(`{"uri":"/a"}`)}},
		{"one more", map[string][]byte{"/apisix/routes/1": []byte(`{"uri":"/a"}`), "/apisix/routes/2": []byte(`{"uri":"/a"}`)}},
		{"nested time kept", map[string][]byte{"/apisix/routes/1": []byte(`{"uri":"/a","plugins":{"x":{"update_time":1}}}`)}},
		{"big integer kept", map[string][]byte{"/apisix/routes/1": []byte(`{"uri":"/a","n":12345678901234567890}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Of(prefix, tt.kvs); got == base {
				t.Errorf("fingerprint %s equals the base's", got)
			}
		})
	}
	if len(base.String()) != 32 {
		t.Errorf("String() = %q, want 32 hex digits", base.String())
	}
}

func TestRelKey(t *testing.T) {
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"/apisix/routes/1", "routes/1", true},
		{"/apisix/consumers/jack/credentials/c1", "consumers/jack/credentials/c1", true},
		{"/apisix/consumers/jack/other/c1", "", false},
		{"/apisix/routes/a/b", "", false},
		{"/apisix/routes/", "", false},
		{"/apisix/nothing/1", "", false},
		{"/apisixx/routes/1", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, ok := RelKey(prefix, tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RelKey(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestTrackerFollowsChanges: after any sequence of States, whole or incremental, the Tracker's
// fingerprint is the one computed from scratch.
func TestTrackerFollowsChanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tr := NewTracker(prefix)
	var b state.Builder
	for step := range 300 {
		for range 1 + rng.IntN(5) {
			k := fmt.Sprintf("/apisix/routes/%d", rng.IntN(40))
			if rng.IntN(3) == 0 {
				b.Delete(k)
			} else {
				b.Set(k, state.KV{Value: fmt.Appendf(nil, `{"uri":"/%d"}`, rng.IntN(10)), ModRevision: int64(step)})
			}
		}
		kvs := b.Freeze()
		if rng.IntN(10) == 0 {
			kvs = state.NewKVs(kvs.Map()) // a whole new State sharing nothing
		}
		got := tr.Update(kvs)
		m := map[string][]byte{}
		for k, kv := range kvs.All() {
			m[k] = kv.Value
		}
		if want := Of(prefix, m); got != want {
			t.Fatalf("step %d: tracker %s, from scratch %s", step, got, want)
		}
	}
}

func routes(n int) state.KVs {
	var b state.Builder
	for i := range n {
		b.Set(fmt.Sprintf("/apisix/routes/%d", i), state.KV{Value: fmt.Appendf(nil,
			`{"id":"%d","uri":"/api/v1/items/%d","methods":["GET","POST"],"upstream_id":"u%d","plugins":{"limit-count":{"count":100,"time_window":60}},"update_time":1700000000}`,
			i, i, i%100), ModRevision: int64(i + 1)})
	}
	return b.Freeze()
}

// BenchmarkFull is the fingerprint of 10,000 routes from scratch (a new Tracker).
func BenchmarkFull(b *testing.B) {
	kvs := routes(10000)
	b.ReportAllocs()
	for b.Loop() {
		NewTracker(prefix).Update(kvs)
	}
}

// BenchmarkIncremental is one route changed among 10,000.
func BenchmarkIncremental(b *testing.B) {
	kvs := routes(10000)
	tr := NewTracker(prefix)
	tr.Update(kvs)
	bl := state.BuilderOf(kvs)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		k := "/apisix/routes/7"
		bl.Set(k, state.KV{Value: fmt.Appendf(nil, `{"uri":"/changed/%d"}`, i), ModRevision: int64(20000 + i)})
		tr.Update(bl.Freeze())
	}
}

// BenchmarkWholeUnchanged is a State equal to the last one but sharing nothing with it (a full
// re-list): every value compared, none re-hashed.
func BenchmarkWholeUnchanged(b *testing.B) {
	kvs := routes(10000)
	tr := NewTracker(prefix)
	tr.Update(kvs)
	b.ReportAllocs()
	for b.Loop() {
		tr.Update(state.NewKVs(kvs.Map()))
	}
}

// FuzzCanonical: any value is normalised or refused with ErrNotObject, never a panic, and a
// normalised value is its own normal form.
func FuzzCanonical(f *testing.F) {
	f.Add([]byte(`{"uri":"/a","priority":1.0,"n":12345678901234567890,"create_time":1}`))
	f.Add([]byte(`{"a":{"b":[1,2e3,-0,"x<y"]}}`))
	f.Add([]byte(`[1]`))
	f.Add([]byte(`{"a":1} {}`))
	f.Fuzz(func(t *testing.T, v []byte) {
		c, err := Canonical(v)
		if err != nil {
			if !errors.Is(err, ErrNotObject) {
				t.Fatalf("error %v does not wrap ErrNotObject", err)
			}
			return
		}
		again, err := Canonical(c)
		if err != nil || string(again) != string(c) {
			t.Fatalf("Canonical(%s) = %s, then %s, %v", v, c, again, err)
		}
	})
}

// BenchmarkTrackerMemory reports the heap a Tracker keeps for 10,000 routes beyond the KVs
// themselves (retained-bytes/object).
func BenchmarkTrackerMemory(b *testing.B) {
	kvs := routes(10000)
	var trackers []*Tracker
	var before, after runtime.MemStats
	for b.Loop() {
		trackers = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		for range 4 {
			tr := NewTracker(prefix)
			tr.Update(kvs)
			trackers = append(trackers, tr)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(4*kvs.Len()), "retained-bytes/object")
	runtime.KeepAlive(trackers)
}
