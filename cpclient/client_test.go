package cpclient

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/cpclient/tlsfiles"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// recorder is a Sink that keeps every State and the revision log of OnApply.
type recorder struct {
	mu     sync.Mutex
	states []*state.State
	log    []applied
}

type applied struct {
	rev  int64
	key  string
	full bool
}

func (r *recorder) sink(_ context.Context, st *state.State) {
	r.mu.Lock()
	r.states = append(r.states, st)
	r.mu.Unlock()
}

func (r *recorder) onApply(rev int64, key string, full bool) {
	r.mu.Lock()
	r.log = append(r.log, applied{rev, key, full})
	r.mu.Unlock()
}

func (r *recorder) last() *state.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return nil
	}
	return r.states[len(r.states)-1]
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CPCLIENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startClient runs a Client against cluster's endpoints until the test ends.
// eachTransport runs a test once per transport: every behaviour holds on both.
func eachTransport(t *testing.T, f func(t *testing.T, transport string)) {
	for _, tr := range []string{TransportGRPC, TransportHTTP} {
		t.Run(tr, func(t *testing.T) { f(t, tr) })
	}
}

func startClient(t *testing.T, transport string, cluster *cptest.Cluster, mod func(*Config)) (*Client, *recorder) {
	t.Helper()
	files, err := cluster.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	loader, err := tlsfiles.New(tlsfiles.Files{CA: files.CA, Cert: files.Cert, Key: files.Key, Verify: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg := Config{
		Endpoints:     cluster.Endpoints(),
		TLS:           loader.Config,
		ProbeInterval: 100 * time.Millisecond,
		ProbeTimeout:  500 * time.Millisecond,
		FailbackAfter: time.Second,
		// Ask for watch progress often and expect answers fast, so that a session that wrongly
		// considers a healthy watch hung fails the tests instead of hiding behind long timers.
		ProgressInterval: 100 * time.Millisecond,
		StallTimeout:     500 * time.Millisecond,
		BackoffMin:       100 * time.Millisecond,
		BackoffMax:       400 * time.Millisecond,
		Logger:           testLogger(t),
		OnApply:          rec.onApply,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg, rec.sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	return c, rec
}

func put(t *testing.T, cluster *cptest.Cluster, key, value string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cluster.Client().Put(ctx, key, value)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func del(t *testing.T, cluster *cptest.Cluster, key string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cluster.Client().Delete(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func hasKey(rec *recorder, key, value string, minRev int64) func() bool {
	return func() bool {
		st := rec.last()
		if st == nil || st.Revision < minRev {
			return false
		}
		kv, ok := st.KVs.Get(key)
		if value == "" {
			return !ok
		}
		return ok && string(kv.Value) == value
	}
}

func TestListWatchApply(t *testing.T) { eachTransport(t, testListWatchApply) }

func testListWatchApply(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
	put(t, cluster, "/apisix/routes/", "init_dir")
	r1 := put(t, cluster, "/apisix/routes/1", `{"uri":"/a"}`)
	put(t, cluster, "/apisixother/x", "outside the prefix")

	c, rec := startClient(t, transport, cluster, nil)
	testutil.WaitFor(t, "the initial list", 10*time.Second, hasKey(rec, "/apisix/routes/1", `{"uri":"/a"}`, r1))
	st := rec.last()
	if st.KVs.Has("/apisixother/x") {
		t.Errorf("a key outside the prefix was listed")
	}
	if st.Source != state.SourceControlPlane || st.Endpoint != cluster.Endpoints()[0] {
		t.Errorf("source %q endpoint %q, want control_plane from the first endpoint", st.Source, st.Endpoint)
	}

	r2 := put(t, cluster, "/apisix/routes/2", `{"uri":"/b"}`)
	testutil.WaitFor(t, "a put", 10*time.Second, hasKey(rec, "/apisix/routes/2", `{"uri":"/b"}`, r2))
	r3 := put(t, cluster, "/apisix/routes/1", `{"uri":"/a2"}`)
	testutil.WaitFor(t, "an update", 10*time.Second, hasKey(rec, "/apisix/routes/1", `{"uri":"/a2"}`, r3))
	r4 := del(t, cluster, "/apisix/routes/2")
	testutil.WaitFor(t, "a delete", 10*time.Second, hasKey(rec, "/apisix/routes/2", "", r4))

	s := c.Status()
	if s.Current != cluster.Endpoints()[0] || s.Revision < r4 || !c.Connected() {
		t.Errorf("status %+v, want the first endpoint at revision >= %d", s, r4)
	}
	// The revision log: one full list, then each change once, in order.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.log) == 0 || !rec.log[0].full {
		t.Fatalf("revision log %v does not start with a full list", rec.log)
	}
	for i := 1; i < len(rec.log); i++ {
		if rec.log[i].rev <= rec.log[i-1].rev {
			t.Errorf("revision log not increasing at %d: %v", i, rec.log)
		}
	}
	want := []int64{r2, r3, r4}
	got := []int64{}
	for _, a := range rec.log[1:] {
		got = append(got, a.rev)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("applied revisions %v, want %v", got, want)
	}
}

// TestHealthySessionIsStable: a quiet, healthy endpoint keeps being used; watch progress requests
// are answered and move the applied revision on past writes outside the prefix.
func TestHealthySessionIsStable(t *testing.T) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 2, Members: 1})
	switches := 0
	var mu sync.Mutex
	c, rec := startClient(t, TransportGRPC, cluster, func(cfg *Config) {
		cfg.OnSwitch = func(string, string) { mu.Lock(); switches++; mu.Unlock() }
	})
	r := put(t, cluster, "/apisix/routes/1", "v1")
	testutil.WaitFor(t, "the first put", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))
	outside := put(t, cluster, "/elsewhere", "x")
	// Progress notifications carry the store's revision: the copy's revision catches up with a write
	// it never saw, without any event.
	testutil.WaitFor(t, "progress to move the revision", 10*time.Second, func() bool { return c.Status().Revision >= outside })
	// Several stall timeouts (500 ms) pass: the session must still be the first one.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if c.Status().Current != cluster.Endpoints()[0] {
			t.Fatalf("left a healthy endpoint: %+v", c.Status())
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if switches != 1 {
		t.Errorf("%d switches on a healthy endpoint, want 1 (the first connection)", switches)
	}
}

// TestAutoFallsBackToTheGateway: with the auto transport, an endpoint that answers only HTTP/1.1 (a
// DP Manager serving etcd's JSON gateway) is spoken to over the gateway; the others stay on gRPC.
func TestAutoFallsBackToTheGateway(t *testing.T) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 2, Members: 1})
	front := cluster.HTTP1Front(t, 0)
	c, rec := startClient(t, TransportAuto, cluster, func(cfg *Config) {
		cfg.Endpoints = []string{front, cluster.Endpoints()[1]}
	})
	r := put(t, cluster, "/apisix/routes/1", "v1")
	testutil.WaitFor(t, "the list through the HTTP/1.1 front", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))
	if c.Status().Current != front {
		t.Errorf("current %s, want the front %s", c.Status().Current, front)
	}
	if !c.eps[0].speaksHTTPOnly() || c.eps[1].speaksHTTPOnly() {
		t.Errorf("gateway flags: front %v, direct %v; want true, false", c.eps[0].speaksHTTPOnly(), c.eps[1].speaksHTTPOnly())
	}
	// The watch works through the front too.
	r2 := put(t, cluster, "/apisix/routes/2", "v2")
	testutil.WaitFor(t, "a watched change through the front", 10*time.Second, hasKey(rec, "/apisix/routes/2", "v2", r2))
}

// TestStartsOnAnyOneEndpoint: no majority rule; two of three endpoints down (refusing or hung) at
// start, zoneproxy starts on the third.
func TestStartsOnAnyOneEndpoint(t *testing.T) { eachTransport(t, testStartsOnAnyOneEndpoint) }

func testStartsOnAnyOneEndpoint(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
	r := put(t, cluster, "/apisix/routes/1", "v1")
	cluster.Endpoint(0).Stop()
	if err := cluster.Endpoint(1).Blackhole(); err != nil {
		t.Fatal(err)
	}
	c, rec := startClient(t, transport, cluster, nil)
	testutil.WaitFor(t, "the list through the only endpoint up", 10*time.Second, hasKey(rec, "/apisix/routes/1", "v1", r))
	if c.Status().Current != cluster.Endpoints()[2] {
		t.Errorf("current %s, want %s", c.Status().Current, cluster.Endpoints()[2])
	}
}

// TestBurstCoalesces: 1,000 puts in a burst become a few States, and the last one is exact.
func TestBurstCoalesces(t *testing.T) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
	_, rec := startClient(t, TransportGRPC, cluster, nil)
	testutil.WaitFor(t, "the first list", 10*time.Second, func() bool { return rec.last() != nil })
	rec.mu.Lock()
	before := len(rec.states)
	rec.mu.Unlock()

	const puts, writers = 1000, 20
	began := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < puts; i += writers {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				_, err := cluster.Client().Put(ctx, fmt.Sprintf("/apisix/routes/%d", i), fmt.Sprintf("v%d", i))
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	burst := time.Since(began)
	want, rev, _ := currentState(t, cluster)
	testutil.WaitFor(t, "the burst to be applied", 10*time.Second, func() bool { return rec.last().Revision >= rev })
	rec.mu.Lock()
	builds := len(rec.states) - before
	rec.mu.Unlock()
	got := rec.last().KVs.Map()
	if len(got) != len(want) {
		t.Fatalf("%d keys, want %d", len(got), len(want))
	}
	for k, kv := range want {
		if string(got[k].Value) != string(kv.Value) {
			t.Errorf("%s = %q, want %q", k, got[k].Value, kv.Value)
		}
	}
	t.Logf("%d puts in %v became %d States", puts, burst.Round(time.Millisecond), builds)
	// Each State gathers the events of at least one coalescing window (20 ms by default): the
	// burst cannot make more States than it lasted windows, whatever the machine's speed. A
	// Client that handed over every watch response would make one per few puts.
	limit := int(burst/(20*time.Millisecond)) + 2
	if limit >= puts/2 {
		t.Skipf("the puts took %v: too slow for a burst to coalesce", burst)
	}
	if builds > limit {
		t.Errorf("%d puts in %v became %d States; a burst should coalesce into at most %d", puts, burst, builds, limit)
	}
}
