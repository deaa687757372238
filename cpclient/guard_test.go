package cpclient

import (
	"fmt"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// routesOf counts the route objects in a State.
func routesOf(st *state.State) int {
	n := 0
	for k := range st.KVs.All() {
		if len(k) > len("/apisix/routes/") && k[:len("/apisix/routes/")] == "/apisix/routes/" {
			n++
		}
	}
	return n
}

// twoClusters starts a "full" control plane with ten routes and a "wiped" one with two, sharing a CA
// so that one client trusts both; it returns the full cluster's State as a client would have it.
func twoClusters(t *testing.T, wipedEndpoints int) (full, wiped *cptest.Cluster, initial *state.State) {
	t.Helper()
	ca, err := cptest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	full = cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1, CA: ca})
	wiped = cptest.StartT(t, cptest.Options{Endpoints: wipedEndpoints, Members: 1, CA: ca})
	for i := 0; i < 10; i++ {
		put(t, full, fmt.Sprintf("/apisix/routes/%d", i), "v")
	}
	put(t, wiped, "/apisix/routes/0", "v")
	put(t, wiped, "/apisix/routes/1", "v")
	kvs, rev, cid := currentState(t, full)
	return full, wiped, &state.State{Revision: rev, ClusterID: cid, KVs: state.NewKVs(kvs), Source: state.SourceStateFile}
}

func testShrinkGuardHoldsUntilTheHoldTime(t *testing.T, transport string) {
	full, wiped, initial := twoClusters(t, 1)
	const hold = 2 * time.Second
	// The wiped control plane is preferred; the full one, second, disagrees with it.
	c, rec := startClient(t, transport, wiped, func(cfg *Config) {
		cfg.Endpoints = []string{wiped.Endpoints()[0], full.Endpoints()[0]}
		cfg.Initial, cfg.ShrinkGuard, cfg.ShrinkHold = initial, 0.5, hold
	})
	testutil.WaitFor(t, "the hold to show in the status", 10*time.Second, func() bool { return c.Status().ShrinkHeld != nil })
	start := time.Now()
	h := c.Status().ShrinkHeld
	if h.Routes != 10 || h.Removed != 8 || h.Endpoint != wiped.Endpoints()[0] {
		t.Errorf("held %+v, want 8 of 10 routes removed by the wiped endpoint", h)
	}
	if st := rec.last(); st != nil && routesOf(st) != 10 {
		t.Fatalf("a State with %d routes was delivered while the re-list was held", routesOf(st))
	}
	testutil.WaitFor(t, "the held re-list to apply after the hold time", 15*time.Second, func() bool {
		st := rec.last()
		return st != nil && routesOf(st) == 2
	})
	if waited := time.Since(start); waited < hold/2 {
		t.Errorf("applied after %s; the other endpoint disagreed, so it should have waited for the hold (%s)", waited, hold)
	}
	if c.Status().ShrinkHeld != nil {
		t.Errorf("still shown as held after applying")
	}
}

func TestShrinkGuardHoldsUntilTheHoldTime(t *testing.T) {
	eachTransport(t, testShrinkGuardHoldsUntilTheHoldTime)
}

func testShrinkGuardAppliesWhenAnotherEndpointAgrees(t *testing.T, transport string) {
	_, wiped, initial := twoClusters(t, 2)
	c, rec := startClient(t, transport, wiped, func(cfg *Config) {
		cfg.Initial, cfg.ShrinkGuard, cfg.ShrinkHold = initial, 0.5, time.Hour
	})
	testutil.WaitFor(t, "the agreed re-list to apply", 15*time.Second, func() bool {
		st := rec.last()
		return st != nil && routesOf(st) == 2
	})
	if c.Status().ShrinkHeld != nil {
		t.Errorf("still held")
	}
}

func TestShrinkGuardAppliesWhenAnotherEndpointAgrees(t *testing.T) {
	eachTransport(t, testShrinkGuardAppliesWhenAnotherEndpointAgrees)
}

// Deletes that arrive as watch events always apply, however many.
func testShrinkGuardLeavesDeleteEventsAlone(t *testing.T, transport string) {
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
	for i := 0; i < 10; i++ {
		put(t, cluster, fmt.Sprintf("/apisix/routes/%d", i), "v")
	}
	c, rec := startClient(t, transport, cluster, func(cfg *Config) { cfg.ShrinkGuard, cfg.ShrinkHold = 0.5, time.Hour })
	testutil.WaitFor(t, "ten routes", 10*time.Second, func() bool { st := rec.last(); return st != nil && routesOf(st) == 10 })
	for i := 0; i < 9; i++ {
		del(t, cluster, fmt.Sprintf("/apisix/routes/%d", i))
	}
	testutil.WaitFor(t, "the deletes", 10*time.Second, func() bool { return routesOf(rec.last()) == 1 })
	if c.Status().ShrinkHeld != nil {
		t.Errorf("delete events were held")
	}
}

func TestShrinkGuardLeavesDeleteEventsAlone(t *testing.T) {
	eachTransport(t, testShrinkGuardLeavesDeleteEventsAlone)
}
