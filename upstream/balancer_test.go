package upstream

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// seq picks n times (each with its Done) and returns the picked hosts' names.
func seq(p *Pool, n int) []string {
	out := make([]string, n)
	for i := range out {
		nd := p.Pick(nil, nil)
		out[i] = hostOf(nd)
		if nd != nil {
			nd.Done(200, nil, time.Millisecond)
		}
	}
	return out
}

func TestRoundRobinSmoothSequence(t *testing.T) {
	tests := []struct {
		name  string
		nodes string
		want  string // one cycle, repeated twice
	}{
		{"5:1:1", `{"a:80":5,"b:80":1,"c:80":1}`, "aabacaa"},
		{"2:1", `{"a:80":2,"b:80":1}`, "aba"},
		{"1:1:1", `{"a:80":1,"b:80":1,"c:80":1}`, "abc"},
		{"gcd divides 10:20", `{"a:80":10,"b:80":20}`, "bab"},
		{"weight 0 never picked", `{"a:80":3,"z:80":0,"b:80":1}`, "aaba"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":`+tt.nodes+`}`)
			got := strings.Join(seq(p, 2*len(tt.want)), "")
			if want := tt.want + tt.want; got != want {
				t.Fatalf("sequence = %s, want %s", got, want)
			}
		})
	}
}

func TestRoundRobinRealBackends(t *testing.T) {
	a, b, c := startBackend(t, "a"), startBackend(t, "b"), startBackend(t, "c")
	p := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":`+nodesOf([]*backend{a, b, c}, 5, 1, 1)+`}`)
	var got []string
	for range 14 {
		name, _ := send(t, p, nil, nil)
		got = append(got, name)
	}
	if s := strings.Join(got, ""); s != "aabacaaaabacaa" {
		t.Fatalf("served by %s, want aabacaaaabacaa", s)
	}
	if a.hits.Load() != 10 || b.hits.Load() != 2 || c.hits.Load() != 2 {
		t.Fatalf("hits a=%d b=%d c=%d, want 10/2/2", a.hits.Load(), b.hits.Load(), c.hits.Load())
	}
}

func TestPickNothing(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		for _, tc := range []struct{ name, nodes string }{
			{"empty nodes", `{}`},
			{"all weight 0", `{"a:80":0,"b:80":0}`},
		} {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"key":"uri","nodes":%s}`, typ, tc.nodes))
				if n := p.Pick(requestCtx("192.0.2.1", "/"), nil); n != nil {
					t.Fatalf("Pick = %s, want nil", n.Addr)
				}
			})
		}
	}
}

// TestSingleNodeWeightZero: an upstream of one node serves from it whatever its weight, as
// APISIX's pick_server returns the only node without asking the balancer (apache/apisix
// apisix/balancer.lua; least_conn's balancer keeps a weight-0 node too, at an infinite score).
func TestSingleNodeWeightZero(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		for _, tc := range []struct{ name, nodes string }{
			{"map form", `{"a:80":0}`},
			{"array form with priority", `[{"host":"a","port":80,"weight":0,"priority":-1}]`},
		} {
			t.Run(typ+"/"+tc.name, func(t *testing.T) {
				p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"key":"uri","nodes":%s}`, typ, tc.nodes))
				var tried Tried
				for i := range 3 { // the first try and two retries on the same node
					n := p.Pick(requestCtx("192.0.2.1", "/"), &tried)
					if n == nil || n.Host != "a" {
						t.Fatalf("try %d: Pick = %v, want a", i, n)
					}
					tried.Add(n)
					n.Done(0, errRefused, 0)
				}
				if got := p.Nodes()[0].InFlight(); got != 0 {
					t.Fatalf("in-flight after Done = %d, want 0", got)
				}
			})
		}
	}
}

func TestTriedAndRetries(t *testing.T) {
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"key":"uri","nodes":{"a:80":1,"b:80":2,"c:80":1,"z:80":0}}`, typ))
			ctx := requestCtx("192.0.2.1", "/x")
			var tried Tried
			seen := map[string]bool{}
			for range 3 {
				n := p.Pick(ctx, &tried)
				if n == nil {
					t.Fatalf("Pick = nil after %d tries", tried.Len())
				}
				if seen[n.Host] {
					t.Fatalf("Pick returned %s twice", n.Host)
				}
				seen[n.Host] = true
				tried.Add(n)
				n.Done(0, errRefused, 0)
			}
			if n := p.Pick(ctx, &tried); n != nil {
				t.Fatalf("Pick after every node was tried = %s, want nil", n.Host)
			}
			if tried.Len() != 3 || !tried.Has(p.Nodes()[0]) || tried.Has(p.Nodes()[3]) {
				t.Fatalf("tried set = %d nodes", tried.Len())
			}
		})
	}
}

func TestSingleNodeRetriedOnItself(t *testing.T) {
	for _, typ := range []string{RoundRobin, LeastConn} {
		t.Run(typ, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"nodes":{"a:80":1}}`, typ))
			var tried Tried
			for i := range 3 {
				n := p.Pick(nil, &tried)
				if n == nil || n.Host != "a" {
					t.Fatalf("try %d: Pick = %v, want a", i, n)
				}
				tried.Add(n)
				n.Done(502, nil, 0)
			}
			if got := p.Nodes()[0].InFlight(); got != 0 {
				t.Fatalf("in-flight after Done = %d, want 0", got)
			}
		})
	}
}

func TestTriedBeyond64(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"nodes":`+nodesJSON(100, 1)+`}`)
	var tried Tried
	for i := range 100 {
		n := p.Pick(nil, &tried)
		if n == nil || tried.Has(n) {
			t.Fatalf("try %d: Pick = %v (tried %d)", i, n, tried.Len())
		}
		tried.Add(n)
	}
	if n := p.Pick(nil, &tried); n != nil || tried.Len() != 100 {
		t.Fatalf("after 100 tries: Pick = %v, Len = %d", n, tried.Len())
	}
	tried.Reset()
	if tried.Len() != 0 || p.Pick(nil, &tried) == nil {
		t.Fatal("Reset did not empty the set")
	}
}

func TestPriorityGroups(t *testing.T) {
	nodes := `[{"host":"a","port":80,"weight":1,"priority":1},{"host":"b","port":80,"weight":1,"priority":1},
		{"host":"c","port":80,"weight":1},{"host":"d","port":80,"weight":1,"priority":-1}]`
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"key":"arg_k","nodes":%s}`, typ, nodes))
			for i := range 50 {
				n := p.Pick(requestCtx("192.0.2.1", fmt.Sprintf("/?k=%d", i)), nil)
				if n.Host != "a" && n.Host != "b" {
					t.Fatalf("Pick = %s, want only the priority 1 group", n.Host)
				}
				n.Done(200, nil, time.Millisecond)
			}
			var tried Tried
			var order []string
			for n := p.Pick(nil, &tried); n != nil; n = p.Pick(nil, &tried) {
				tried.Add(n)
				order = append(order, n.Host)
				n.Done(0, errRefused, 0)
			}
			if len(order) != 4 || !strings.Contains("ab ba", strings.Join(order[:2], "")) || order[2] != "c" || order[3] != "d" {
				t.Fatalf("retry order = %v, want a/b, then c, then d", order)
			}
		})
	}
}

func TestCHashKeys(t *testing.T) {
	tests := []struct {
		name         string
		hashOn, key  string
		same, differ func(i int) (ip, uri string, headers []string)
	}{
		{"vars uri", "vars", "uri",
			func(i int) (string, string, []string) { return fmt.Sprintf("192.0.2.%d", i), "/same", nil },
			func(i int) (string, string, []string) { return "192.0.2.1", fmt.Sprintf("/p%d", i), nil }},
		{"vars arg", "vars", "arg_device",
			func(i int) (string, string, []string) {
				return fmt.Sprintf("192.0.2.%d", i), fmt.Sprintf("/x%d?device=7", i), nil
			},
			func(i int) (string, string, []string) { return "192.0.2.1", fmt.Sprintf("/?device=%d", i), nil }},
		{"vars remote_addr", "vars", "remote_addr",
			func(i int) (string, string, []string) { return "192.0.2.9", fmt.Sprintf("/x%d", i), nil },
			func(i int) (string, string, []string) { return fmt.Sprintf("192.0.2.%d", i), "/", nil }},
		{"header", "header", "X-Session",
			func(i int) (string, string, []string) {
				return fmt.Sprintf("192.0.2.%d", i), "/", []string{"X-Session", "s1"}
			},
			func(i int) (string, string, []string) { return "192.0.2.1", "/", []string{"x-session", fmt.Sprint(i)} }},
		{"cookie", "cookie", "sid",
			func(i int) (string, string, []string) {
				return fmt.Sprintf("192.0.2.%d", i), "/", []string{"Cookie", "a=1; sid=abc"}
			},
			func(i int) (string, string, []string) {
				return "192.0.2.1", "/", []string{"Cookie", fmt.Sprintf("sid=%d", i)}
			}},
		{"vars_combinations", "vars_combinations", "$http_user-${arg_v ?? none}",
			func(i int) (string, string, []string) {
				return fmt.Sprintf("192.0.2.%d", i), "/?v=1", []string{"User", "u"}
			},
			func(i int) (string, string, []string) { return "192.0.2.1", "/?v=1", []string{"User", fmt.Sprint(i)} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k",
				fmt.Sprintf(`{"type":"chash","hash_on":%q,"key":%q,"nodes":%s}`, tt.hashOn, tt.key, nodesJSON(5, 1)))
			first := ""
			for i := 1; i <= 30; i++ {
				ip, uri, h := tt.same(i)
				n := p.Pick(requestCtx(ip, uri, h...), nil)
				if first == "" {
					first = n.Addr
				} else if n.Addr != first {
					t.Fatalf("request %d with the same key went to %s, not %s", i, n.Addr, first)
				}
			}
			spread := map[string]bool{}
			for i := 1; i <= 60; i++ {
				ip, uri, h := tt.differ(i)
				spread[p.Pick(requestCtx(ip, uri, h...), nil).Addr] = true
			}
			if len(spread) < 4 {
				t.Fatalf("60 different keys reached only %d of 5 nodes", len(spread))
			}
		})
	}
}

func TestCHashFallbackAndConsumer(t *testing.T) {
	r := NewRegistry(Options{})
	byAddr := mustPool(t, r, "addr", `{"type":"chash","key":"remote_addr","nodes":`+nodesJSON(7, 1)+`}`)
	byHeader := mustPool(t, r, "hdr", `{"type":"chash","hash_on":"header","key":"X-K","nodes":`+nodesJSON(7, 1)+`}`)
	byConsumer := mustPool(t, r, "cons", `{"type":"chash","hash_on":"consumer","nodes":`+nodesJSON(7, 1)+`}`)
	byCombo := mustPool(t, r, "combo", `{"type":"chash","hash_on":"vars_combinations","key":"$arg_missing","nodes":`+nodesJSON(7, 1)+`}`)
	for i := 1; i < 40; i++ {
		ctx := requestCtx(fmt.Sprintf("198.51.100.%d", i), "/")
		want := byAddr.Pick(ctx, nil).Addr
		for name, p := range map[string]*Pool{"missing header": byHeader, "no consumer": byConsumer, "unresolved template": byCombo} {
			if got := p.Pick(ctx, nil).Addr; got != want {
				t.Fatalf("%s: client %d went to %s, want remote_addr's node %s", name, i, got, want)
			}
		}
	}
	spread := map[string]bool{}
	for i := range 40 {
		ctx := requestCtx("198.51.100.1", "/")
		ctx.SetUserValue(ConsumerKey, fmt.Sprintf("consumer-%d", i))
		n1 := byConsumer.Pick(ctx, nil)
		if n2 := byConsumer.Pick(ctx, nil); n2 != n1 {
			t.Fatalf("consumer %d moved between picks", i)
		}
		spread[n1.Addr] = true
	}
	if len(spread) < 4 {
		t.Fatalf("40 consumers reached only %d of 7 nodes", len(spread))
	}
}

// TestCHashStability checks the ring: adding an 11th node to 10 moves about 1/11 of 10,000
// keys, and every node gets a fair share.
func TestCHashStability(t *testing.T) {
	r := NewRegistry(Options{})
	p10 := mustPool(t, r, "k10", `{"type":"chash","hash_on":"header","key":"k","nodes":`+nodesJSON(10, 1)+`}`)
	p11 := mustPool(t, r, "k11", `{"type":"chash","hash_on":"header","key":"k","nodes":`+nodesJSON(11, 1)+`}`)
	ctx := requestCtx("192.0.2.1", "/")
	const keys = 10000
	moved := 0
	share := map[string]int{}
	for i := range keys {
		ctx.Request.Header.Set("k", fmt.Sprintf("key-%d", i))
		a, b := p10.Pick(ctx, nil), p11.Pick(ctx, nil)
		share[a.Addr]++
		if a.Addr != b.Addr {
			moved++
			if b.Addr != p11.Nodes()[10].Addr {
				t.Fatalf("key %d moved between two old nodes (%s → %s)", i, a.Addr, b.Addr)
			}
		}
	}
	if ideal := keys / 11; moved < ideal/2 || moved > ideal*3/2 {
		t.Fatalf("adding 1 node to 10 moved %d of %d keys, want about %d", moved, keys, ideal)
	}
	for addr, n := range share {
		if n < keys/10*6/10 || n > keys/10*14/10 {
			t.Errorf("node %s got %d of %d keys, want about %d", addr, n, keys, keys/10)
		}
	}
}

func TestCHashWeights(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"chash","hash_on":"header","key":"k","nodes":{"a:80":3,"b:80":1,"z:80":0}}`)
	ctx := requestCtx("192.0.2.1", "/")
	count := map[string]int{}
	for i := range 8000 {
		ctx.Request.Header.Set("k", fmt.Sprint(i))
		count[p.Pick(ctx, nil).Host]++
	}
	if count["z"] != 0 || count["a"] < 5200 || count["a"] > 6800 {
		t.Fatalf("weights 3:1:0 gave %v, want a≈6000 b≈2000 z=0", count)
	}
}

func TestLeastConnHeldRequests(t *testing.T) {
	r := NewRegistry(Options{})
	p := mustPool(t, r, "k", `{"type":"least_conn","nodes":{"a:80":1,"b:80":1,"c:80":1}}`)
	held := map[string]*Node{}
	for range 3 {
		n := p.Pick(nil, nil)
		if held[n.Host] != nil {
			t.Fatalf("%s picked twice while a node had no request", n.Host)
		}
		held[n.Host] = n
	}
	held["b"].Done(200, nil, 0)
	if n := p.Pick(nil, nil); n.Host != "b" {
		t.Fatalf("after b finished, Pick = %s, want b", n.Host)
	}
	w := mustPool(t, r, "w", `{"type":"least_conn","nodes":{"a:80":2,"b:80":1}}`)
	count := map[string]int{}
	for range 30 {
		count[w.Pick(nil, nil).Host]++
	}
	if count["a"] != 20 || count["b"] != 10 {
		t.Fatalf("30 held requests on weights 2:1 went %v, want a=20 b=10", count)
	}
}

func TestLeastConnHeldManyNodes(t *testing.T) {
	parts := make([]string, 40)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"10.0.0.%d:80":%d`, i+1, 1+i%3) // weights 1, 2, 3
	}
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"least_conn","nodes":{`+strings.Join(parts, ",")+`}}`)
	count := map[*Node]int{}
	for range 480 {
		count[p.Pick(nil, nil)]++
	}
	// Every pick took a node of least (1+in-flight)/weight, so no node holds a request it would
	// not have got: c_i/w_i <= (c_j+1)/w_j for every pair.
	for i, ci := range count {
		for j, cj := range count {
			if float64(ci)/float64(i.Weight) > float64(cj+1)/float64(j.Weight)+1e-9 {
				t.Fatalf("%s holds %d at weight %d while %s holds %d at weight %d", i.Addr, ci, i.Weight, j.Addr, cj, j.Weight)
			}
		}
	}
	if len(count) != 40 {
		t.Fatalf("480 held picks reached %d of 40 nodes", len(count))
	}
	// Releases reach the tree: after a node is emptied, the pick is again a least loaded node.
	score := func(n *Node) float64 { return float64(n.InFlight()+1) / float64(n.Weight) }
	for _, n := range p.Nodes()[:8] {
		for range count[n] {
			n.Done(200, nil, 0)
		}
		count[n] = 0
		least := score(n)
		for _, o := range p.Nodes() {
			least = min(least, score(o))
		}
		got := p.Pick(nil, nil)
		if s := float64(got.InFlight()) / float64(got.Weight); s > least+1e-9 {
			t.Fatalf("after %s emptied, Pick = %s at score %.3f, but the least score is %.3f", n.Addr, got.Addr, s, least)
		}
		count[got]++
	}
}

func TestLeastConnRealBackends(t *testing.T) {
	hold := make(chan struct{})
	a := startBackend(t, "a", func(b *backend) { b.hold = hold })
	b, c := startBackend(t, "b"), startBackend(t, "c")
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"least_conn","nodes":`+nodesOf([]*backend{a, b, c})+`}`)
	// Three picks without a Done reach three different nodes; the one on a stays open.
	picked := map[string]*Node{}
	for range 3 {
		n := p.Pick(nil, nil)
		picked[n.Addr] = n
	}
	if len(picked) != 3 {
		t.Fatalf("3 picks reached %d nodes, want 3", len(picked))
	}
	picked[b.addr].Done(200, nil, 0)
	picked[c.addr].Done(200, nil, 0)
	done := make(chan struct{})
	go func(n *Node) {
		defer close(done)
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://" + n.Addr + "/")
		err := n.Client().DoTimeout(req, resp, 10*time.Second)
		n.Done(resp.StatusCode(), err, 0)
	}(picked[a.addr])
	testutil.WaitFor(t, "a request open on a", waitTimeout, func() bool { return a.hits.Load() == 1 })
	for range 20 {
		if name, _ := send(t, p, nil, nil); name == "a" {
			t.Fatal("a got a request while it had one open and the others none")
		}
	}
	if b.hits.Load()+c.hits.Load() != 20 || b.hits.Load() == 0 || c.hits.Load() == 0 {
		t.Fatalf("b=%d c=%d, want 20 between them, both used", b.hits.Load(), c.hits.Load())
	}
	close(hold)
	<-done
	if got := p.Nodes()[0].InFlight(); got != 0 {
		t.Fatalf("in flight on a after it answered = %d", got)
	}
	if name, _ := send(t, p, nil, nil); name == "" {
		t.Fatal("nothing picked")
	}
}

func TestLeastConnCountsSurviveUpdates(t *testing.T) {
	r := NewRegistry(Options{})
	v1 := mustPool(t, r, "k", `{"type":"least_conn","nodes":{"a:80":1,"b:80":1}}`)
	var onA []*Node
	for range 6 { // held requests spread 3 and 3
		if n := v1.Pick(nil, nil); n.Host == "a" {
			onA = append(onA, n)
		}
	}
	if len(onA) != 3 {
		t.Fatalf("6 held requests put %d on a, want 3", len(onA))
	}
	v2 := mustPool(t, r, "k", `{"type":"least_conn","nodes":{"a:80":1,"b:80":1,"c:80":1}}`)
	if v2 == v1 || v2.Nodes()[0].InFlight() != 3 {
		t.Fatalf("new pool sees %d in flight on a, want 3", v2.Nodes()[0].InFlight())
	}
	for i := range 3 {
		if n := v2.Pick(nil, nil); n.Host != "c" {
			t.Fatalf("pick %d on the new version = %s, want the empty node c", i, n.Host)
		}
	}
	// The old version's requests finish: the new version's tree must learn it.
	for _, n := range onA {
		n.Done(200, nil, 0)
	}
	if n := v2.Pick(nil, nil); n.Host != "a" {
		t.Fatalf("after the old requests finished, Pick = %s, want a (0 in flight)", n.Host)
	}
}

func TestEWMAPrefersFasterNode(t *testing.T) {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"ewma","nodes":{"slow:80":1,"fast:80":1,"fast2:80":1}}`)
	byHost := map[string]*Node{}
	for _, n := range p.Nodes() {
		byHost[n.Host] = n
	}
	// A node never measured scores 0 and is preferred: every node gets measured first.
	byHost["slow"].Done(200, nil, 200*time.Millisecond)
	byHost["fast"].Done(200, nil, time.Millisecond)
	byHost["fast2"].Done(200, nil, 2*time.Millisecond)
	count := map[string]int{}
	for range 300 {
		n := p.Pick(nil, nil)
		count[n.Host]++
	}
	if count["slow"] != 0 || count["fast"] < 150 {
		t.Fatalf("picks %v: want slow never chosen (power of two choices) and fast most often", count)
	}
}

func TestEWMARealBackends(t *testing.T) {
	slow := startBackend(t, "slow", func(b *backend) { b.delay = 30 * time.Millisecond })
	fast := startBackend(t, "fast")
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"ewma","nodes":`+nodesOf([]*backend{slow, fast})+`}`)
	for range 40 {
		send(t, p, nil, nil)
	}
	if slow.hits.Load() > 2 {
		t.Fatalf("slow node served %d of 40 requests, want at most its first measurements", slow.hits.Load())
	}
}

func TestLargePools(t *testing.T) {
	parts := make([]string, 2000)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"10.%d.%d.1:80":%d`, i/200, i%200, 1+i%7)
	}
	nodes := "{" + strings.Join(parts, ",") + "}"
	for _, typ := range []string{RoundRobin, CHash, LeastConn, EWMA} {
		t.Run(typ, func(t *testing.T) {
			p := mustPool(t, NewRegistry(Options{}), "k", fmt.Sprintf(`{"type":%q,"key":"uri","nodes":%s}`, typ, nodes))
			seen := map[*Node]bool{}
			ctx := requestCtx("192.0.2.1", "/")
			for i := range 1000 {
				ctx.URI().SetPath(fmt.Sprintf("/%d", i))
				seen[p.Pick(ctx, nil)] = true
			}
			if len(seen) < 300 {
				t.Fatalf("1000 picks over 2000 nodes reached only %d", len(seen))
			}
		})
	}
	if b := bigRing(t, nodes); len(b.points) > maxRingPoints {
		t.Fatalf("ring has %d points, more than %d", len(b.points), maxRingPoints)
	}
}

func bigRing(t *testing.T, nodes string) *ring {
	p := mustPool(t, NewRegistry(Options{}), "k", `{"type":"chash","key":"uri","nodes":`+nodes+`}`)
	return p.bal.groups[0].ring
}
