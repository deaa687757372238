package upstream

import (
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// checks is a checks object whose active side never runs here (this package has no checker).
const passiveChecks = `"checks":{"active":{"healthy":{"successes":2},"unhealthy":{"http_failures":2,"tcp_failures":2}},
	"passive":{"healthy":{"successes":3},"unhealthy":{"http_failures":3,"tcp_failures":2,"timeouts":2}}}`

func TestHealthStateMachine(t *testing.T) {
	type step struct {
		good  bool
		ctr   uint
		limit int
		want  uint64 // state after the step
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"failures reach the threshold", []step{
			{false, ctrHTTP, 3, stMostlyHealthy}, {false, ctrHTTP, 3, stMostlyHealthy}, {false, ctrHTTP, 3, stUnhealthy}}},
		{"a success clears failures", []step{
			{false, ctrHTTP, 2, stMostlyHealthy}, {true, ctrSuccess, 2, stMostlyHealthy}, {false, ctrHTTP, 2, stMostlyHealthy},
			{false, ctrHTTP, 2, stUnhealthy}}},
		{"counters are separate", []step{
			{false, ctrHTTP, 2, stMostlyHealthy}, {false, ctrTCP, 2, stMostlyHealthy}, {false, ctrTimeout, 2, stMostlyHealthy},
			{false, ctrTCP, 2, stUnhealthy}}},
		{"recovery needs consecutive successes", []step{
			{false, ctrTCP, 1, stUnhealthy}, {true, ctrSuccess, 2, stMostlyUnhealthy}, {false, ctrTCP, 5, stMostlyUnhealthy},
			{true, ctrSuccess, 2, stMostlyUnhealthy}, {true, ctrSuccess, 2, stHealthy}}},
		{"limit 0 disables a counter", []step{
			{false, ctrHTTP, 0, stHealthy}, {false, ctrTimeout, 0, stHealthy}}},
		{"successes while healthy are not counted", []step{
			{true, ctrSuccess, 1, stHealthy}, {false, ctrHTTP, 1, stUnhealthy}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := &healthSet{key: "k", log: slog.New(slog.DiscardHandler)}
			h := &healthState{set: set, addr: "a:80"}
			flips := uint64(0)
			for i, s := range tt.steps {
				wasUp := h.healthy()
				h.report(s.good, s.ctr, s.limit, "test")
				if got := h.word.Load() >> 32; got != s.want {
					t.Fatalf("step %d: state %d, want %d", i, got, s.want)
				}
				if wasUp != h.healthy() {
					flips++
				}
			}
			if set.gen.Load() != flips {
				t.Fatalf("generation %d, want one bump per flip (%d)", set.gen.Load(), flips)
			}
		})
	}
}

func TestPassiveEjectionBy500s(t *testing.T) {
	bad, good := startBackend(t, "bad"), startBackend(t, "good")
	bad.status.Store(500)
	r := NewRegistry(Options{})
	p := mustPool(t, r, "k", `{"nodes":`+nodesOf([]*backend{bad, good})+`,`+passiveChecks+`}`)
	for range 6 { // round robin: 3 tries reach bad and return 500
		send(t, p, nil, nil)
	}
	if bad.hits.Load() != 3 || p.Nodes()[0].Healthy() {
		t.Fatalf("bad served %d and healthy=%v, want 3 then ejected", bad.hits.Load(), p.Nodes()[0].Healthy())
	}
	for range 10 {
		if name, _ := send(t, p, nil, nil); name != "good" {
			t.Fatalf("request served by %q after ejection, want good", name)
		}
	}
	// bad recovers; an active probe (two successes) brings it back.
	bad.status.Store(200)
	p.Nodes()[0].ReportProbe(ProbeStatus, 200)
	p.Nodes()[0].ReportProbe(ProbeStatus, 200)
	if !p.Nodes()[0].Healthy() {
		t.Fatal("bad not healthy after two successful probes")
	}
	before := bad.hits.Load()
	for range 4 {
		send(t, p, nil, nil)
	}
	if bad.hits.Load()-before != 2 {
		t.Fatalf("bad served %d of 4 after recovery, want 2", bad.hits.Load()-before)
	}
}

func TestPassiveConnectFailures(t *testing.T) {
	good := startBackend(t, "good")
	dead := deadAddr(t)
	r := NewRegistry(Options{})
	p := mustPool(t, r, "k", `{"nodes":{"`+dead+`":1,"`+good.addr+`":1},`+passiveChecks+`}`)
	var tried Tried
	for range 2 { // each request: dead refuses, the retry reaches good
		tried.Reset()
		for {
			name, n := send(t, p, nil, &tried)
			tried.Add(n)
			if name != "error" {
				break
			}
		}
	}
	if p.Nodes()[0].Healthy() {
		t.Fatal("node refusing connections still healthy after 2 TCP failures")
	}
	for range 5 {
		if name, _ := send(t, p, nil, nil); name != "good" {
			t.Fatalf("served by %q, want good only", name)
		}
	}
}

func TestPassiveStatusesNeedPassiveConfig(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":{"a:80":1,"b:80":1},"checks":{"active":{}}}`)
	a := p.Nodes()[0]
	for range 20 {
		a.Done(500, nil, 0)
	}
	if !a.Healthy() {
		t.Fatal("500s ejected a node without checks.passive")
	}
	a.Done(0, fasthttp.ErrTimeout, 0)
	a.Done(0, fasthttp.ErrDialTimeout, 0)
	if !a.Healthy() {
		t.Fatal("2 timeouts ejected a node (default passive timeouts is 7)")
	}
	a.Done(0, errRefused, 0)
	a.Done(0, errRefused, 0)
	if a.Healthy() {
		t.Fatal("2 connect failures did not eject a node (default passive tcp_failures is 2)")
	}
	noChecks := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":{"a:80":1,"b:80":1}}`)
	for range 20 {
		noChecks.Nodes()[0].Done(0, errRefused, 0)
	}
	if !noChecks.Nodes()[0].Healthy() {
		t.Fatal("a node was ejected without checks")
	}
}

func TestAllUnhealthyUsesAllNodes(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"key":"arg_k","nodes":{"a:80":1,"b:80":1},%s}`, typ, passiveChecks))
			for _, n := range p.Nodes() {
				n.ReportProbe(ProbeTCPFailure, 0)
				n.ReportProbe(ProbeTCPFailure, 0)
				if n.Healthy() {
					t.Fatalf("%s still healthy", n.Host)
				}
			}
			seen := map[string]bool{}
			for i := range 40 {
				n := p.Pick(requestCtx("192.0.2.1", fmt.Sprintf("/?k=%d", i)), nil)
				if n == nil {
					t.Fatal("Pick = nil with every node unhealthy, want any node")
				}
				seen[n.Host] = true
				n.Done(404, nil, time.Millisecond) // a status neither list counts
			}
			if len(seen) != 2 {
				t.Fatalf("with every node unhealthy only %v were used", seen)
			}
		})
	}
}

func TestOnlyHealthyNodeUsedAtWeightZero(t *testing.T) {
	// APISIX t/node/healthcheck-passive-resty-events.t: {"…:1980": 0, "…:1": 1}, :1 ejected.
	for _, typ := range []string{RoundRobin, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"nodes":{"zero:80":0,"dead:80":1},%s}`, typ, passiveChecks))
			if n := p.Pick(nil, nil); n == nil || n.Host != "dead" {
				t.Fatalf("while dead is healthy, Pick = %v, want dead", n)
			}
			p.Nodes()[1].ReportProbe(ProbeTCPFailure, 0)
			p.Nodes()[1].ReportProbe(ProbeTCPFailure, 0)
			for range 5 {
				if n := p.Pick(nil, nil); n == nil || n.Host != "zero" {
					t.Fatalf("with the weighted node ejected, Pick = %v, want zero", n)
				}
			}
		})
	}
}

func TestCHashSkipsUnhealthyWithoutMovingOthers(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"chash","hash_on":"header","key":"X-Sessionid","nodes":`+nodesJSON(3, 1)+`,`+passiveChecks+`}`)
	ctx := requestCtx("192.0.2.1", "/")
	before := make([]string, 300)
	for i := range before {
		ctx.Request.Header.Set("X-Sessionid", fmt.Sprint("session-", i))
		before[i] = p.Pick(ctx, nil).Addr
	}
	victim := p.Nodes()[0]
	victim.ReportProbe(ProbeTimeout, 0)
	victim.ReportProbe(ProbeTimeout, 0)
	victim.ReportProbe(ProbeTimeout, 0)
	moved := 0
	for i := range before {
		ctx.Request.Header.Set("X-Sessionid", fmt.Sprint("session-", i))
		after := p.Pick(ctx, nil).Addr
		switch {
		case before[i] == victim.Addr && after == victim.Addr:
			t.Fatalf("key %d still routed to the ejected node", i)
		case before[i] != victim.Addr && after != before[i]:
			t.Fatalf("key %d on a healthy node moved from %s to %s", i, before[i], after)
		case before[i] == victim.Addr:
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no key was on the ejected node; the test proves nothing")
	}
}

func TestHealthSurvivesWeightChange(t *testing.T) {
	r := NewRegistry(Options{})
	spec := func(wa int, checks string) string {
		return fmt.Sprintf(`{"nodes":{"a:80":%d,"b:80":1},%s}`, wa, checks)
	}
	v1 := mustPool(t, r, "k", spec(1, passiveChecks))
	v1.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	v1.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	v2 := mustPool(t, r, "k", spec(5, passiveChecks))
	if v2 == v1 || v2.Nodes()[0].Healthy() {
		t.Fatal("a weight-only change made a fresh, healthy node: health must survive it")
	}
	if v2.CheckID() != v1.CheckID() {
		t.Fatalf("CheckID changed on a weight-only update: %q → %q", v1.CheckID(), v2.CheckID())
	}
	for range 6 {
		if n := v2.Pick(nil, nil); n.Host != "a" && n.Host != "b" || n.Host == "a" {
			t.Fatalf("Pick = %s, want b only", n.Host)
		}
	}
	v3 := mustPool(t, r, "k", spec(5, `"checks":{"active":{"http_path":"/other"}}`))
	if !v3.Nodes()[0].Healthy() || v3.CheckID() == v2.CheckID() {
		t.Fatal("a checks change must start from fresh (healthy) state and a new CheckID")
	}
	v4 := mustPool(t, r, "k", `{"nodes":{"a:80":5,"b:80":1,"c:80":1},"checks":{"active":{"http_path":"/other"}}}`)
	if v4.CheckID() == v3.CheckID() {
		t.Fatal("adding a node must change the CheckID (the checker probes a new target)")
	}
}

func TestPoolReuse(t *testing.T) {
	r := NewRegistry(Options{})
	js := `{"nodes":{"a:80":2,"b:80":1}}`
	p1 := mustPool(t, r, "k", js)
	if p2 := mustPool(t, r, "k", js); p2 != p1 {
		t.Fatal("an equal spec must return the same Pool")
	}
	first := seq(p1, 2) // a b, next would be a
	p3 := mustPool(t, r, "k", `{"name":"renamed","nodes":{"a:80":2,"b:80":1}}`)
	if p3 == p1 || p3.Spec().Name != "renamed" {
		t.Fatal("a renamed upstream needs a new Pool with the new spec")
	}
	if got := seq(p3, 1); first[0] != "a" || first[1] != "b" || got[0] != "a" {
		t.Fatalf("round robin restarted after an unrelated edit: %v then %v", first, got)
	}
	if p3.Nodes()[0].Client() != p1.Nodes()[0].Client() {
		t.Fatal("client not reused across an unrelated edit")
	}
}

func TestRetainReleases(t *testing.T) {
	r := NewRegistry(Options{})
	js := `{"nodes":{"a:80":1,"b:80":1},` + passiveChecks + `}`
	keep := mustPool(t, r, "keep", `{"nodes":{"k:80":1}}`)
	gone := mustPool(t, r, "gone", js)
	gone.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	gone.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	oldClient := gone.Nodes()[0].Client()
	r.Retain([]*Pool{keep})
	again := mustPool(t, r, "gone", js)
	if again == gone || !again.Nodes()[0].Healthy() {
		t.Fatal("state of a released key survived Retain")
	}
	if again.Nodes()[0].Client() == oldClient {
		t.Fatal("client of a released key survived Retain")
	}
	if k2 := mustPool(t, r, "keep", `{"nodes":{"k:80":1}}`); k2 != keep {
		t.Fatal("Retain dropped a live pool")
	}
	// A pool built but never made live: Retain with the older live pool restores it.
	v1 := mustPool(t, r, "x", `{"type":"least_conn","nodes":{"a:80":1,"b:80":1}}`)
	mustPool(t, r, "x", `{"type":"least_conn","nodes":{"a:80":1,"b:80":1,"c:80":1}}`)
	r.Retain([]*Pool{keep, again, v1})
	held := v1.Pick(nil, nil)
	if n := v1.Pick(nil, nil); n == held {
		t.Fatal("after Retain restored the live version, least_conn did not see the held request")
	}
	if p := mustPool(t, r, "x", `{"type":"least_conn","nodes":{"a:80":1,"b:80":1}}`); p != v1 {
		t.Fatal("the live pool is not current after Retain")
	}
}

func TestClientSettings(t *testing.T) {
	r := NewRegistry(Options{MaxConnsPerNode: 7, Client: func(c *fasthttp.HostClient) { c.ReadBufferSize = 8192 }})
	tests := []struct {
		name, json string
		check      func(t *testing.T, c *fasthttp.HostClient)
	}{
		{"http", `{"nodes":{"a:8080":1},"keepalive_pool":{"idle_timeout":5},"timeout":{"connect":2,"send":3,"read":4}}`,
			func(t *testing.T, c *fasthttp.HostClient) {
				if c.Addr != "a:8080" || c.IsTLS || c.MaxIdemponentCallAttempts != 1 || c.MaxIdleConnDuration != 5*time.Second ||
					c.MaxConns != 7 || c.MaxConnWaitTimeout != 2*time.Second || c.ReadBufferSize != 8192 || !c.DisablePathNormalizing {
					t.Errorf("client = %+v", c)
				}
			}},
		{"https rewrite host, no verify by default", `{"scheme":"https","pass_host":"rewrite","upstream_host":"api.test","nodes":{"10.0.0.1":1}}`,
			func(t *testing.T, c *fasthttp.HostClient) {
				if c.Addr != "10.0.0.1:443" || !c.IsTLS || c.TLSConfig.ServerName != "api.test" || !c.TLSConfig.InsecureSkipVerify {
					t.Errorf("client = %+v tls %+v", c, c.TLSConfig)
				}
			}},
		{"https node host, verify", `{"scheme":"https","pass_host":"node","tls":{"verify":true},"nodes":{"svc.test:8443":1}}`,
			func(t *testing.T, c *fasthttp.HostClient) {
				if c.TLSConfig.ServerName != "svc.test" || c.TLSConfig.InsecureSkipVerify {
					t.Errorf("tls = %+v", c.TLSConfig)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustPool(t, r, tt.name, tt.json).Nodes()[0].Client()) })
	}
	a := mustPool(t, r, "one", `{"nodes":{"shared:80":1}}`).Nodes()[0]
	b := mustPool(t, r, "two", `{"nodes":{"shared:80":3}}`).Nodes()[0]
	c := mustPool(t, r, "three", `{"nodes":{"shared:80":1},"keepalive_pool":{"idle_timeout":1}}`).Nodes()[0]
	if a.Client() != b.Client() || a.Client() == c.Client() {
		t.Fatal("clients must be shared exactly when their settings are equal")
	}
	if a.HostHeader != "shared" || mustPool(t, r, "p", `{"nodes":{"h:81":1}}`).Nodes()[0].HostHeader != "h:81" {
		t.Fatal("HostHeader must omit only the scheme's default port")
	}
	if _, err := r.Pool("cid", mustParse(t, `{"scheme":"https","tls":{"client_cert_id":"1"},"nodes":{"a":1}}`)); err == nil {
		t.Fatal("an unresolved tls.client_cert_id must be refused")
	}
}

func TestTimeouts(t *testing.T) {
	r := NewRegistry(Options{ReadTimeout: 9 * time.Second})
	c, s, rd := mustPool(t, r, "a", `{"nodes":{}}`).Timeouts()
	if c != 60*time.Second || s != 60*time.Second || rd != 9*time.Second {
		t.Fatalf("defaults = %v %v %v", c, s, rd)
	}
	c, s, rd = mustPool(t, r, "b", `{"nodes":{},"timeout":{"connect":0.5,"send":2,"read":3}}`).Timeouts()
	if c != 500*time.Millisecond || s != 2*time.Second || rd != 3*time.Second {
		t.Fatalf("upstream timeouts = %v %v %v", c, s, rd)
	}
}

// TestRoundRobinPositionSurvivesFlips (issue 20 item 17): a health flip changes the candidates,
// not the round-robin position. Node c flips every two picks; had each flip restarted the cycle,
// the two picks after it would always go to a and b and c would never serve.
func TestRoundRobinPositionSurvivesFlips(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":{"a:80":1,"b:80":1,"c:80":1},`+passiveChecks+`}`)
	c := p.Nodes()[2]
	count := map[string]int{}
	for i := range 60 {
		if i%2 == 0 && i%4 != 0 {
			c.ReportProbe(ProbeTCPFailure, 0)
			c.ReportProbe(ProbeTCPFailure, 0)
		} else if i%4 == 0 {
			c.ReportProbe(ProbeStatus, 200)
			c.ReportProbe(ProbeStatus, 200)
		}
		n := p.Pick(nil, nil)
		if n == c && !c.Healthy() {
			t.Fatalf("pick %d went to c while it is ejected", i)
		}
		count[n.Host]++
		n.Done(200, nil, 0)
	}
	// c is healthy for 30 of the 60 picks: about a third of those.
	if count["c"] < 5 {
		t.Fatalf("picks %v: c, healthy for half the picks, served %d", count, count["c"])
	}
}

// TestCHashSkipsEjectedPointsAtOnce (issue 20 item 17): with most of a ring's nodes ejected, the
// keys of ejected nodes move to the next healthy node on the ring and the others stay, as
// resty.chash's next-point walk gives; the skip is precomputed when health changes.
func TestCHashSkipsEjectedPointsAtOnce(t *testing.T) {
	r := NewRegistry(Options{})
	p := mustPool(t, r, "k", `{"type":"chash","hash_on":"header","key":"k","nodes":`+nodesJSON(20, 1)+`,`+passiveChecks+`}`)
	ref := mustPool(t, r, "ref", `{"type":"chash","hash_on":"header","key":"k","nodes":`+nodesJSON(20, 1)+`}`)
	for _, n := range p.Nodes()[:18] {
		n.ReportProbe(ProbeTCPFailure, 0)
		n.ReportProbe(ProbeTCPFailure, 0)
	}
	ctx := requestCtx("192.0.2.1", "/")
	for i := range 2000 {
		ctx.Request.Header.Set("k", fmt.Sprint(i))
		got, before := p.Pick(ctx, nil), ref.Pick(ctx, nil)
		if !got.Healthy() {
			t.Fatalf("key %d went to ejected %s", i, got.Addr)
		}
		if before.index >= 18 && got.index != before.index {
			t.Fatalf("key %d moved from healthy %s to %s", i, before.Addr, got.Addr)
		}
	}
}

// TestRetiredBalancerRebuildsLazily: a pool that left the live set no longer has its view rebuilt
// by flips, but a request still holding it sees the flip at its next pick.
func TestRetiredBalancerRebuildsLazily(t *testing.T) {
	r := NewRegistry(Options{})
	old := mustPool(t, r, "k", `{"nodes":{"a:80":1,"b:80":1},`+passiveChecks+`}`)
	cur := mustPool(t, r, "k", `{"nodes":{"a:80":1,"b:80":2},`+passiveChecks+`}`)
	r.Retain([]*Pool{cur})
	if subs := cur.bal.hset.subs.Load(); subs == nil || len(*subs) != 1 || (*subs)[0] != cur.bal || old.bal.eager.Load() {
		t.Fatal("after Retain only the live balancer is subscribed")
	}
	cur.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	cur.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	for range 4 {
		if n := old.Pick(nil, nil); n.Host != "b" {
			t.Fatalf("the retired pool picked %s, ejected", n.Host)
		}
		if n := cur.Pick(nil, nil); n.Host != "b" {
			t.Fatalf("the live pool picked %s, ejected", n.Host)
		}
	}
}

// TestPassiveVerdictStaysInItsUpstream (issue 20 item 13): upstreams that share node addresses
// share the nodes' connection pools, but a passive ejection in one (APISIX keeps one checker per
// upstream) leaves the others routing to the node, whatever their own checks.
func TestPassiveVerdictStaysInItsUpstream(t *testing.T) {
	bad, good := startBackend(t, "bad"), startBackend(t, "good")
	bad.status.Store(500)
	nodes := nodesOf([]*backend{bad, good})
	tests := []struct {
		name, other string
	}{
		{"other upstream without checks", `{"nodes":` + nodes + `}`},
		{"other upstream with the same checks", `{"nodes":` + nodes + `,` + passiveChecks + `}`},
		{"other upstream with active checks only", `{"nodes":` + nodes + `,"checks":{"active":{}}}`},
		{"other upstream with another balancer", `{"type":"least_conn","nodes":` + nodes + `,` + passiveChecks + `}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRegistry(Options{})
			ejecting := mustPool(t, r, "/apisix/upstreams/1", `{"nodes":`+nodes+`,`+passiveChecks+`}`)
			other := mustPool(t, r, "/apisix/upstreams/2", tt.other)
			r.Retain([]*Pool{ejecting, other})
			for i, n := range ejecting.Nodes() {
				if n.Client() != other.Nodes()[i].Client() {
					t.Fatalf("node %s: the two upstreams do not share its client", n.Addr)
				}
			}
			for range 6 {
				send(t, ejecting, nil, nil)
			}
			if ejecting.Nodes()[0].Healthy() {
				t.Fatal("bad still healthy in the upstream whose passive checks saw three 500s")
			}
			if !other.Nodes()[0].Healthy() {
				t.Fatal("bad ejected in the other upstream too")
			}
			before := bad.hits.Load()
			for range 4 {
				send(t, other, nil, nil)
			}
			if bad.hits.Load() == before {
				t.Fatal("the other upstream stopped sending to bad")
			}
		})
	}
}
