package cpclient

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// events records endpoint switches and health changes with their times.
type events struct {
	mu       sync.Mutex
	switches []switchEvent
	health   []healthEvent
}

type switchEvent struct {
	from, to string
	at       time.Time
}

type healthEvent struct {
	endpoint string
	healthy  bool
	at       time.Time
}

func (e *events) hook(cfg *Config) {
	cfg.OnSwitch = func(from, to string) {
		e.mu.Lock()
		e.switches = append(e.switches, switchEvent{from, to, time.Now()})
		e.mu.Unlock()
	}
	cfg.OnHealth = func(ep string, healthy bool) {
		e.mu.Lock()
		e.health = append(e.health, healthEvent{ep, healthy, time.Now()})
		e.mu.Unlock()
	}
}

func (e *events) lastSwitch() switchEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.switches) == 0 {
		return switchEvent{}
	}
	return e.switches[len(e.switches)-1]
}

func currentIs(c *Client, url string) func() bool {
	return func() bool { return c.Status().Current == url }
}

func TestFailover(t *testing.T) { eachTransport(t, testFailover) }

func testFailover(t *testing.T, transport string) {
	tests := []struct {
		name   string
		break_ func(*cptest.Endpoint)
	}{
		{"stopped endpoint", func(e *cptest.Endpoint) { e.Stop() }},
		{"blackholed endpoint", func(e *cptest.Endpoint) {
			if err := e.Blackhole(); err != nil {
				panic(err)
			}
		}},
		{"endpoint that resets every connection", func(e *cptest.Endpoint) { e.ResetAll() }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
			eps := cluster.Endpoints()
			r0 := put(t, cluster, "/apisix/routes/1", "v1")
			var ev events
			c, rec := startClient(t, transport, cluster, ev.hook)
			testutil.WaitFor(t, "the initial list", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r0))
			testutil.WaitFor(t, "the first endpoint in use", 5*time.Second, currentIs(c, eps[0]))

			start := time.Now()
			tt.break_(cluster.Endpoint(0))
			testutil.WaitFor(t, "the switch to the second endpoint", 15*time.Second, currentIs(c, eps[1]))
			t.Logf("switched after %s", time.Since(start).Round(time.Millisecond))
			if s := ev.lastSwitch(); s.from != eps[0] || s.to != eps[1] {
				t.Errorf("last switch %+v, want %s -> %s", s, eps[0], eps[1])
			}
			r1 := put(t, cluster, "/apisix/routes/2", "after the switch")
			testutil.WaitFor(t, "a put made after the switch", 10*time.Second, hasKey(rec, "/apisix/routes/2", "after the switch", r1))
			if st := rec.last(); st.Endpoint != eps[1] {
				t.Errorf("state from %s, want %s", st.Endpoint, eps[1])
			}
			st := c.Status()
			if st.Endpoints[0].Healthy || st.Endpoints[0].LastError == "" {
				t.Errorf("broken endpoint status %+v, want unhealthy with an error", st.Endpoints[0])
			}
		})
	}
}

func TestFailbackAfterHoldDown(t *testing.T) { eachTransport(t, testFailbackAfterHoldDown) }

func testFailbackAfterHoldDown(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
	eps := cluster.Endpoints()
	var ev events
	const hold = 1500 * time.Millisecond
	c, rec := startClient(t, transport, cluster, func(cfg *Config) { ev.hook(cfg); cfg.FailbackAfter = hold })
	r := put(t, cluster, "/apisix/routes/1", "v1")
	testutil.WaitFor(t, "the first put", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))

	cluster.Endpoint(0).Stop()
	testutil.WaitFor(t, "the switch away", 15*time.Second, currentIs(c, eps[1]))
	if err := cluster.Endpoint(0).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the switch back", 20*time.Second, currentIs(c, eps[0]))

	ev.mu.Lock()
	var healthyAt time.Time
	for _, h := range ev.health {
		if h.endpoint == eps[0] && h.healthy {
			healthyAt = h.at // the last time it became healthy
		}
	}
	back := ev.switches[len(ev.switches)-1]
	ev.mu.Unlock()
	if back.from != eps[1] || back.to != eps[0] {
		t.Fatalf("last switch %+v, want back to %s", back, eps[0])
	}
	if held := back.at.Sub(healthyAt); held < hold-50*time.Millisecond {
		t.Errorf("failed back %s after the endpoint became healthy, want at least the hold-down %s", held, hold)
	}
	r2 := put(t, cluster, "/apisix/routes/1", "v2")
	testutil.WaitFor(t, "a put after the fail-back", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v2", r2))
	if st := rec.last(); st.Endpoint != eps[0] {
		t.Errorf("state from %s after fail-back", st.Endpoint)
	}
}

func TestAllEndpointsDownKeepsStateAndResumes(t *testing.T) {
	eachTransport(t, testAllEndpointsDownKeepsStateAndResumes)
}

func testAllEndpointsDownKeepsStateAndResumes(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
	eps := cluster.Endpoints()
	c, rec := startClient(t, transport, cluster, nil)
	r := put(t, cluster, "/apisix/routes/1", "v1")
	testutil.WaitFor(t, "the first put", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))
	states := func() int { rec.mu.Lock(); defer rec.mu.Unlock(); return len(rec.states) }
	before := states()

	for i := range eps {
		cluster.Endpoint(i).Stop()
	}
	testutil.WaitFor(t, "every endpoint unhealthy", 15*time.Second, func() bool {
		for _, e := range c.Status().Endpoints {
			if e.Healthy {
				return false
			}
		}
		return !c.Connected()
	})
	if states() != before {
		t.Errorf("a State was delivered while every endpoint was down")
	}
	r2 := put(t, cluster, "/apisix/routes/2", "written during the outage")
	if err := cluster.Endpoint(2).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the update made during the outage", 15*time.Second,
		hasKey(rec, "/apisix/routes/2", "written during the outage", r2))
	if c.Status().Current != eps[2] {
		t.Errorf("current %s, want the only endpoint back, %s", c.Status().Current, eps[2])
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, a := range rec.log[1:] {
		if a.full {
			t.Errorf("a full list after the outage (%+v): the watch should have resumed", a)
		}
	}
}

func TestCompactionWhileDisconnectedRelists(t *testing.T) {
	eachTransport(t, testCompactionWhileDisconnectedRelists)
}

func testCompactionWhileDisconnectedRelists(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 2, Members: 1})
	_, rec := startClient(t, transport, cluster, nil)
	put(t, cluster, "/apisix/routes/1", "gone soon")
	r := put(t, cluster, "/apisix/routes/2", "stays")
	testutil.WaitFor(t, "both routes", 10*time.Second, hasKey(rec, "/apisix/routes/2", "stays", r))

	cluster.Endpoint(0).Stop()
	cluster.Endpoint(1).Stop()
	del(t, cluster, "/apisix/routes/1")
	put(t, cluster, "/apisix/routes/3", "new")
	last := put(t, cluster, "/other/key", "moves the revision on")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cluster.Client().Compact(ctx, last, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if err := cluster.Endpoint(1).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the re-list after compaction", 15*time.Second, func() bool {
		st := rec.last()
		gone := !st.KVs.Has("/apisix/routes/1")
		return st.Revision >= last && gone && string(value(st, "/apisix/routes/3")) == "new" &&
			string(value(st, "/apisix/routes/2")) == "stays"
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	fulls := 0
	for _, a := range rec.log {
		if a.full {
			fulls++
		}
	}
	if fulls != 2 {
		t.Errorf("%d full lists, want 2 (the initial one and the one after compaction): %v", fulls, rec.log)
	}
}

// currentState reads what etcd holds under the prefix, and its revision.
func currentState(t *testing.T, cluster *cptest.Cluster) (map[string]state.KV, int64, uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cluster.Client().Get(ctx, "/apisix/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	kvs := map[string]state.KV{}
	for _, kv := range resp.Kvs {
		kvs[string(kv.Key)] = state.KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
	}
	return kvs, resp.Header.Revision, resp.Header.ClusterId
}

func TestInitialState(t *testing.T) { eachTransport(t, testInitialState) }

func testInitialState(t *testing.T, transport string) {
	tests := []struct {
		name     string
		mutate   func(*state.State)
		wantFull bool
	}{
		{"same cluster resumes the watch", func(*state.State) {}, false},
		{"another cluster lists again", func(s *state.State) { s.ClusterID ^= 0xff }, true},
		{"a revision ahead of the endpoint lists again", func(s *state.State) { s.Revision += 1000 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cluster := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
			put(t, cluster, "/apisix/routes/1", "v1")
			put(t, cluster, "/apisix/routes/2", "deleted later")
			kvs, rev, cid := currentState(t, cluster)
			initial := &state.State{Revision: rev, ClusterID: cid, KVs: state.NewKVs(kvs), Source: state.SourceStateFile}
			tt.mutate(initial)
			del(t, cluster, "/apisix/routes/2")
			r := put(t, cluster, "/apisix/routes/3", "after the snapshot")

			_, rec := startClient(t, transport, cluster, func(cfg *Config) { cfg.Initial = initial })
			testutil.WaitFor(t, "the changes made after the snapshot", 10*time.Second, func() bool {
				st := rec.last()
				if st == nil || st.Revision < r {
					return false
				}
				has2 := st.KVs.Has("/apisix/routes/2")
				return !has2 && string(value(st, "/apisix/routes/3")) == "after the snapshot" &&
					string(value(st, "/apisix/routes/1")) == "v1"
			})
			rec.mu.Lock()
			defer rec.mu.Unlock()
			full := false
			for _, a := range rec.log {
				full = full || a.full
			}
			if full != tt.wantFull {
				t.Errorf("full list = %v, want %v (log %v)", full, tt.wantFull, rec.log)
			}
		})
	}
}

func TestEndpointRefusingCredentialsIsSkipped(t *testing.T) {
	eachTransport(t, testEndpointRefusingCredentialsIsSkipped)
}

// The endpoints that refuse are refused at once (an authentication error, a TLS alert); the probe
// timeout here is long so that a slow good endpoint on a loaded machine (etcd's authentication
// under the race detector) is not taken for a hung one: this test is about what a refusal is
// classified as, not how fast a hung endpoint is left (TestFailover does that).
const refusalProbeTimeout = 3 * time.Second

func testEndpointRefusingCredentialsIsSkipped(t *testing.T, transport string) {
	t.Run("wrong password", func(t *testing.T) {
		ca, err := cptest.NewCA()
		if err != nil {
			t.Fatal(err)
		}
		other := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1, CA: ca, Auth: &cptest.Auth{User: "root", Password: "not ours"}})
		ours := cptest.StartT(t, cptest.Options{Endpoints: 2, Members: 1, CA: ca, Auth: &cptest.Auth{User: "root", Password: "s3cret"}})
		r := put(t, ours, "/apisix/routes/1", "v1")
		eps := append([]string{other.Endpoints()[0]}, ours.Endpoints()...)
		c, rec := startClient(t, transport, ours, func(cfg *Config) {
			cfg.Endpoints, cfg.Username, cfg.Password = eps, "root", "s3cret"
			cfg.ProbeTimeout = refusalProbeTimeout
		})
		testutil.WaitFor(t, "the list through the second endpoint", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))
		if c.Status().Current != eps[1] {
			t.Errorf("current %s, want %s", c.Status().Current, eps[1])
		}
		if e := c.Status().Endpoints[0]; e.Healthy || !strings.Contains(e.LastError, "authentication failed") {
			t.Errorf("first endpoint %+v, want unhealthy with an authentication error", e)
		}
	})
	t.Run("client certificate not trusted", func(t *testing.T) {
		cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 3, UntrustedClientCA: []int{0}})
		r := put(t, cluster, "/apisix/routes/1", "v1")
		c, rec := startClient(t, transport, cluster, func(cfg *Config) { cfg.ProbeTimeout = refusalProbeTimeout })
		testutil.WaitFor(t, "the list through the second endpoint", 15*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))
		if c.Status().Current != cluster.Endpoints()[1] {
			t.Errorf("current %s, want %s", c.Status().Current, cluster.Endpoints()[1])
		}
		if e := c.Status().Endpoints[0]; e.Healthy || e.LastError == "" {
			t.Errorf("first endpoint %+v, want unhealthy with an error", e)
		}
	})
}

// TestExactlyOnceUnderFaults writes 500 puts and deletes while endpoints are stopped, blackholed,
// reset and restored in turn; the copy must end equal to etcd, with every change applied once, in
// order, and no full list after the first (every switch resumed the watch).
func TestExactlyOnceUnderFaults(t *testing.T) { eachTransport(t, testExactlyOnceUnderFaults) }

func testExactlyOnceUnderFaults(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
	c, rec := startClient(t, transport, cluster, nil)
	testutil.WaitFor(t, "the first endpoint in use", 10*time.Second, currentIs(c, cluster.Endpoints()[0]))

	stop := make(chan struct{})
	faultsDone := make(chan struct{})
	go func() {
		defer close(faultsDone)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(400 * time.Millisecond):
			}
			ep := cluster.Endpoint(i % 3)
			switch rng.IntN(3) {
			case 0:
				ep.Stop()
			case 1:
				_ = ep.Blackhole()
			case 2:
				ep.Reset()
			}
			select {
			case <-stop:
				return
			case <-time.After(600 * time.Millisecond):
			}
			_ = ep.Restore()
		}
	}()

	wrote := map[int64]string{}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 500; i++ {
		key := fmt.Sprintf("/apisix/routes/%d", rng.IntN(40))
		if rng.IntN(4) == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			resp, err := cluster.Client().Delete(ctx, key)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			if resp.Deleted > 0 {
				wrote[resp.Header.Revision] = key
			}
			continue
		}
		wrote[put(t, cluster, key, fmt.Sprintf("value %d", i))] = key
		if i%50 == 0 {
			time.Sleep(50 * time.Millisecond) // let faults land between bursts
		}
	}
	close(stop)
	<-faultsDone
	for i := 0; i < 3; i++ {
		_ = cluster.Endpoint(i).Restore()
	}
	want, rev, _ := currentState(t, cluster)
	testutil.WaitFor(t, "the copy to catch up", 30*time.Second, func() bool {
		st := rec.last()
		return st != nil && st.Revision >= rev
	})
	got := rec.last().KVs.Map()
	if len(got) != len(want) {
		t.Errorf("copy has %d keys, etcd %d", len(got), len(want))
	}
	for k, kv := range want {
		if g, ok := got[k]; !ok || string(g.Value) != string(kv.Value) || g.ModRevision != kv.ModRevision {
			t.Errorf("key %s: copy %+v, etcd %+v", k, g, kv)
		}
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	seen := map[int64]bool{}
	for i, a := range rec.log {
		if i > 0 && a.full {
			t.Errorf("full list at %d (%+v): a switch should resume the watch", i, a)
		}
		if i > 0 && a.rev <= rec.log[i-1].rev {
			t.Errorf("revision %d applied after %d", a.rev, rec.log[i-1].rev)
		}
		if !a.full {
			seen[a.rev] = true
		}
	}
	for r, key := range wrote {
		if r > rec.log[0].rev && !seen[r] {
			t.Errorf("change at revision %d (%s) never applied", r, key)
		}
	}
	t.Logf("%d changes, %d switches", len(wrote), len(rec.states))
}

// value is the value of key in st, nil when there is none.
func value(st *state.State, key string) []byte {
	kv, _ := st.KVs.Get(key)
	return kv.Value
}
