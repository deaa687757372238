package upstream

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// checkUsers asserts the registry's client bookkeeping (issue 20 item 18): every client it holds
// is counted once per node of a live pool that uses it, as its own client or a per-host one, and
// a client that no live pool uses is only one made since the last Update.
func checkUsers(t *testing.T, r *Registry) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	want := map[*fasthttp.HostClient]int{}
	for key, e := range r.entries {
		for _, p := range e.live {
			if !p.live || p.key != key {
				t.Errorf("key %s: pool of %s in its live set, live=%v", key, p.key, p.live)
			}
			for _, n := range p.nodes {
				want[n.client]++
				if n.sni != nil {
					for _, c := range n.sni.clients() {
						want[c]++
					}
				}
			}
		}
	}
	if len(r.users) != len(r.clients) {
		t.Errorf("%d clients, %d counted", len(r.clients), len(r.users))
	}
	for k, c := range r.clients {
		u := r.users[c]
		if u == nil || u.key != k {
			t.Errorf("client %v: count %+v", k, u)
			continue
		}
		if u.n != want[c] {
			t.Errorf("client %v: counted %d users, live pools use it %d times", k, u.n, want[c])
		}
		if _, unused := r.unused[c]; u.n == 0 && !unused {
			t.Errorf("client %v: no user and not waiting for the next Update", k)
		}
	}
	for c, n := range want {
		if u := r.users[c]; u == nil && n > 0 {
			t.Errorf("a client of a live pool (%s) was released", c.Addr)
		}
	}
}

// describeRegistry renders what a Registry holds: per key the spec of its current pool, the node
// addresses it keeps load and health for, and every client with its count of users.
func describeRegistry(r *Registry, specs map[*Spec]int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var sb strings.Builder
	for _, key := range slices.Sorted(maps.Keys(r.entries)) {
		e := r.entries[key]
		fmt.Fprintf(&sb, "%s: spec %d, loads %v, healths %v, checks %d bytes, hset %v\n", key, specs[e.pool.spec],
			slices.Sorted(maps.Keys(e.loads)), slices.Sorted(maps.Keys(e.healths)), len(e.checksSig), e.hset != nil)
	}
	var clients []string
	for k, c := range r.clients {
		clients = append(clients, fmt.Sprintf("%+v users %d", k, r.users[c].n))
	}
	slices.Sort(clients)
	sb.WriteString(strings.Join(clients, "\n"))
	return sb.String()
}

// TestUpdateMatchesRetain drives two registries through the same random configurations, one told
// the whole live set each time (Retain), the other only what changed (Update), and compares what
// they hold. Some configurations build pools that never go live (an object rejected, a build that
// fails), some are built and never applied (the next delta spans two builds), requests add per-host
// TLS clients to live pools, to pools not live yet and to retired ones, and upstreams share node
// addresses, hence clients, across keys.
func TestUpdateMatchesRetain(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 18))
	var specs []*Spec
	specIndex := map[*Spec]int{}
	for i, js := range []string{
		`{"nodes":{"10.0.0.1:80":1,"10.0.0.2:80":1}}`,
		`{"nodes":{"10.0.0.1:80":2,"10.0.0.2:80":1}}`,
		`{"nodes":{"10.0.0.2:80":1,"10.0.0.3:80":1},` + passiveChecks + `}`,
		`{"nodes":{"10.0.0.2:80":1,"10.0.0.4:80":1},` + passiveChecks + `}`,
		`{"type":"least_conn","nodes":{"10.0.0.3:80":1,"10.0.0.5:80":1}}`,
		`{"scheme":"https","pass_host":"pass","nodes":{"10.0.0.1:443":1,"backend.internal:443":1}}`,
		`{"scheme":"https","pass_host":"pass","nodes":{"10.0.0.6:443":1,"backend.internal:443":1}}`,
		`{"scheme":"https","pass_host":"node","nodes":{"backend.internal:443":1}}`,
		`{"nodes":{"10.0.0.7:80":1},"keepalive_pool":{"idle_timeout":5}}`,
	} {
		s := mustParse(t, js)
		specs = append(specs, s)
		specIndex[s] = i
	}
	const keys = 6
	full, inc := NewRegistry(Options{}), NewRegistry(Options{})
	type pair struct{ full, inc *Pool }
	live := map[string]pair{}  // as last applied
	built := map[string]pair{} // as the last build left it
	request := func(p pair, host string) {
		for i, n := range p.full.nodes {
			n.ClientFor([]byte(host))
			p.inc.nodes[i].ClientFor([]byte(host))
		}
	}
	for step := range 400 {
		// A build: some keys change, appear or leave; some rebuild to a spec that does not go live.
		next := maps.Clone(built)
		for range 1 + rng.IntN(3) {
			key := fmt.Sprintf("/apisix/upstreams/%d", rng.IntN(keys))
			switch rng.IntN(4) {
			case 0:
				delete(next, key)
			case 1: // rejected or not referenced: built, never live
				s := specs[rng.IntN(len(specs))]
				full.Pool(key, s)
				inc.Pool(key, s)
			default:
				s := specs[rng.IntN(len(specs))]
				pf, _ := full.Pool(key, s)
				pi, _ := inc.Pool(key, s)
				next[key] = pair{pf, pi}
			}
		}
		built = next
		if rng.IntN(5) == 0 {
			continue // the build failed: nothing applied, the next delta spans both builds
		}
		// Requests between the swap and the Update: per-host clients on pools not live yet.
		for _, p := range built {
			if rng.IntN(3) == 0 {
				request(p, fmt.Sprintf("h%d.example.com", rng.IntN(4)))
			}
		}
		var all []*Pool
		var d Delta
		for key, p := range built {
			all = append(all, p.full)
			if live[key] != p {
				d.Added = append(d.Added, p.inc)
			}
		}
		for key, p := range live {
			if built[key] != p {
				d.Removed = append(d.Removed, p.inc)
			}
		}
		retired := maps.Clone(live)
		full.Retain(all)
		inc.Update(d)
		live = maps.Clone(built)
		checkUsers(t, full)
		checkUsers(t, inc)
		if got, want := describeRegistry(inc, specIndex), describeRegistry(full, specIndex); got != want {
			t.Fatalf("step %d: after Update\n%s\nafter Retain\n%s", step, got, want)
		}
		// Requests still on retired pools and on live ones.
		for key, p := range retired {
			if live[key] != p && rng.IntN(2) == 0 {
				request(p, fmt.Sprintf("h%d.example.com", rng.IntN(6)))
			}
		}
		for _, p := range live {
			if rng.IntN(4) == 0 {
				request(p, fmt.Sprintf("h%d.example.com", rng.IntN(6)))
			}
		}
	}
}

// TestUpdateReleasesPerHostClients: a per-host TLS client stays while a live pool uses it, and is
// closed as soon as none does: when its pool retires, or at the next Update for one made by a
// request still on a retired pool. One made between the swap and the Update that makes its pool
// live stays.
func TestUpdateReleasesPerHostClients(t *testing.T) {
	held := func(r *Registry, c *fasthttp.HostClient) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		u := r.users[c]
		return u != nil && r.clients[u.key] == c
	}
	released := func(r *Registry, c *fasthttp.HostClient) bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.users[c] == nil && !slices.Contains(slices.Collect(maps.Values(r.clients)), c)
	}
	spec := func(weight int) string {
		return fmt.Sprintf(`{"scheme":"https","pass_host":"pass","nodes":{"10.0.0.1:443":%d}}`, weight)
	}
	r := NewRegistry(Options{})
	v1 := mustPool(t, r, "/apisix/upstreams/1", spec(1))
	early := v1.Nodes()[0].ClientFor([]byte("early.example.com")) // before v1 went live
	r.Update(Delta{Added: []*Pool{v1}})
	if !held(r, early) {
		t.Fatal("a per-host client made before its pool went live was released")
	}
	a := v1.Nodes()[0].ClientFor([]byte("a.example.com"))
	// Another key with the same node and settings shares the per-host client.
	other := mustPool(t, r, "/apisix/upstreams/2", spec(1))
	if other.Nodes()[0].ClientFor([]byte("a.example.com")) != a {
		t.Fatal("the same name on the same node and settings got another client")
	}
	r.Update(Delta{Added: []*Pool{other}})
	checkUsers(t, r)

	v2 := mustPool(t, r, "/apisix/upstreams/1", spec(2))
	r.Update(Delta{Added: []*Pool{v2}, Removed: []*Pool{v1}})
	checkUsers(t, r)
	if !released(r, early) {
		t.Error("the per-host client of a retired pool that no live pool uses survived")
	}
	if !held(r, a) {
		t.Error("a per-host client that another live pool uses was released")
	}
	// A request still on the retired v1 makes a new per-host client: the next Update closes it.
	late := v1.Nodes()[0].ClientFor([]byte("late.example.com"))
	if !held(r, late) {
		t.Fatal("a per-host client made by a request is not the registry's")
	}
	r.Update(Delta{})
	if !released(r, late) {
		t.Error("a per-host client made on a retired pool survived the next Update")
	}
	r.Update(Delta{Removed: []*Pool{other}})
	checkUsers(t, r)
	if !released(r, a) {
		t.Error("a per-host client survived its last live pool")
	}
	if !held(r, v2.Nodes()[0].Client()) {
		t.Error("the node client of the live pool was released")
	}
}

// TestUpdateKeepsHealthOfUnchangedUpstream: a pool that goes live again unchanged after a build
// that rebuilt nothing keeps its health state, and an upstream moved to another key starts afresh
// there while its old key is released.
func TestUpdateKeepsHealthOfUnchangedUpstream(t *testing.T) {
	r := NewRegistry(Options{})
	js := `{"nodes":{"10.0.0.1:80":1,"10.0.0.2:80":1},` + passiveChecks + `}`
	p := mustPool(t, r, "/apisix/upstreams/1", js)
	r.Update(Delta{Full: true, Added: []*Pool{p}})
	p.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	p.Nodes()[0].ReportProbe(ProbeTCPFailure, 0)
	if p.Nodes()[0].Healthy() {
		t.Fatal("two TCP failures did not eject the node")
	}
	// Weight change, same nodes and checks: a new pool over the same health.
	p2 := mustPool(t, r, "/apisix/upstreams/1", `{"nodes":{"10.0.0.1:80":3,"10.0.0.2:80":1},`+passiveChecks+`}`)
	r.Update(Delta{Added: []*Pool{p2}, Removed: []*Pool{p}})
	if p2.Nodes()[0].Healthy() {
		t.Error("the health of an updated upstream was lost")
	}
	// Moved to another key: the old key's state goes, the new key's starts healthy.
	moved := mustPool(t, r, "/apisix/upstreams/2", js)
	r.Update(Delta{Added: []*Pool{moved}, Removed: []*Pool{p2}})
	checkUsers(t, r)
	if !moved.Nodes()[0].Healthy() {
		t.Error("an upstream moved to a new key inherited the old key's health")
	}
	if moved.Nodes()[0].Client() != p.Nodes()[0].Client() {
		t.Error("the node client was not kept for the moved upstream")
	}
	r.mu.Lock()
	_, old := r.entries["/apisix/upstreams/1"]
	r.mu.Unlock()
	if old {
		t.Error("the key the upstream left is still held")
	}
	if again := mustPool(t, r, "/apisix/upstreams/1", js); again == p || !again.Nodes()[0].Healthy() {
		t.Error("the released key's state came back")
	}
}

// TestUpdateConcurrentPerHostClients: requests that add per-host clients to live, retiring and
// retired pools while Updates run leave the counts exact (run with -race).
func TestUpdateConcurrentPerHostClients(t *testing.T) {
	r := NewRegistry(Options{})
	spec := func(i int) string {
		return fmt.Sprintf(`{"scheme":"https","pass_host":"pass","nodes":{"10.0.0.1:443":%d,"10.0.0.2:443":1}}`, i%3+1)
	}
	cur := mustPool(t, r, "/apisix/upstreams/1", spec(0))
	r.Update(Delta{Full: true, Added: []*Pool{cur}})
	var mu sync.Mutex // guards recent
	recent := []*Pool{cur}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				p := recent[(g+i)%len(recent)]
				mu.Unlock()
				p.Nodes()[i%2].ClientFor([]byte(fmt.Sprintf("h%d.example.com", (g*7+i)%40)))
			}
		}()
	}
	for i := 1; i <= 200; i++ {
		next := mustPool(t, r, "/apisix/upstreams/1", spec(i))
		mu.Lock()
		recent = append(recent, next)
		if len(recent) > 3 {
			recent = recent[1:]
		}
		mu.Unlock()
		if next != cur {
			r.Update(Delta{Added: []*Pool{next}, Removed: []*Pool{cur}})
			cur = next
		}
	}
	close(stop)
	wg.Wait()
	r.Update(Delta{})
	checkUsers(t, r)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, u := range r.users {
		if u.n == 0 {
			t.Errorf("client %v has no user after the last Update", u.key)
		}
	}
}
