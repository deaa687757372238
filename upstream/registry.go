package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// defaultTimeout is APISIX's proxy timeout when neither route nor upstream sets one.
const defaultTimeout = 60 * time.Second

// Options configure a Registry. The zero value is usable.
type Options struct {
	// Logger receives health changes (Info) and releases (Debug). nil discards.
	Logger *slog.Logger
	// ConnectTimeout, SendTimeout and ReadTimeout apply to upstreams without a timeout object;
	// 0 means 60 s, APISIX's default.
	ConnectTimeout, SendTimeout, ReadTimeout time.Duration
	// RootCAs verifies https upstreams whose tls.verify is true; nil means the system roots.
	RootCAs *x509.CertPool
	// MaxConnsPerNode caps each node client's connections; 0 means fasthttp's default (512).
	MaxConnsPerNode int
	// Hostname is the value of $hostname in chash keys; "" means os.Hostname().
	Hostname string
	// Client, when set, may adjust every new client (buffer sizes, body limits, streaming)
	// before its first use.
	Client func(*fasthttp.HostClient)
}

// Registry compiles upstream specs into Pools and keeps the state that must outlive config
// updates: per (upstream key, node address) health and load, and node clients. It is safe for
// concurrent use.
type Registry struct {
	log      *slog.Logger
	opts     Options
	dialer   *fasthttp.TCPDialer
	epoch    time.Time
	hostname string

	mu      sync.Mutex
	serial  uint64
	entries map[string]*entry
	clients map[clientKey]*fasthttp.HostClient
	// users counts, per client, the nodes of live pools that use it, as their own client or as
	// a per-host TLS client; a client whose count falls to 0 is closed and forgotten at once.
	users map[*fasthttp.HostClient]*clientUse
	// unused are the clients made since the last Update that no live pool used when they were
	// made (for pools not live yet, or by requests still on retired pools): Update closes those
	// still unused.
	unused map[*fasthttp.HostClient]struct{}
	// touched are the keys Pool built or looked up a pool for, or whose live pools changed,
	// since the last Update: the keys whose entry Update brings in line with their live pools.
	touched map[string]struct{}
}

// clientUse is a client's key and the number of nodes of live pools using it.
type clientUse struct {
	key clientKey
	n   int
}

// entry is the long-lived state of one upstream key.
type entry struct {
	latest    atomic.Pointer[balancer] // owns the least_conn slots
	pool      *Pool                    // the last pool built or made current
	loads     map[string]*loadState
	checksSig string
	hset      *healthSet
	healths   map[string]*healthState
	// live are the key's live pools, in the order they went live (nearly always one).
	live []*Pool
}

// NewRegistry returns an empty registry.
func NewRegistry(opts Options) *Registry {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []*time.Duration{&opts.ConnectTimeout, &opts.SendTimeout, &opts.ReadTimeout} {
		if *d <= 0 {
			*d = defaultTimeout
		}
	}
	hostname := opts.Hostname
	if hostname == "" {
		hostname, _ = os.Hostname()
	}
	return &Registry{
		log: log.With("component", "upstream"), opts: opts, dialer: &fasthttp.TCPDialer{},
		epoch: time.Now(), hostname: hostname,
		entries: make(map[string]*entry), clients: make(map[clientKey]*fasthttp.HostClient),
		users: make(map[*fasthttp.HostClient]*clientUse), unused: make(map[*fasthttp.HostClient]struct{}),
		touched: make(map[string]struct{}),
	}
}

// Pool returns the compiled pool for the upstream spec found at key (e.g. "/apisix/upstreams/1"
// or "/apisix/routes/7#upstream"). The same spec again returns the same Pool. A changed spec
// gets a new Pool that keeps, per node address, the load (least_conn, ewma) and, while checks
// are unchanged, the health of the previous one; its balancer (round-robin position, ring) is
// kept too while nodes, balancer settings and checks are unchanged, and clients while their
// connection settings are. spec must not be modified afterwards.
func (r *Registry) Pool(key string, spec *Spec) (*Pool, error) {
	if spec == nil {
		return nil, errors.New("upstream: nil spec")
	}
	cert, err := clientCert(spec)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.touched[key] = struct{}{}
	e := r.entries[key]
	if e == nil {
		e = &entry{loads: make(map[string]*loadState), healths: make(map[string]*healthState)}
		r.entries[key] = e
	}
	if e.pool != nil && (e.pool.spec == spec || reflect.DeepEqual(e.pool.spec, spec)) {
		return e.pool, nil
	}
	checksSig := ""
	if spec.Checks != nil {
		b, err := json.Marshal(spec.Checks)
		if err != nil {
			return nil, err
		}
		checksSig = string(b)
	}
	if checksSig != e.checksSig {
		e.checksSig, e.hset, e.healths = checksSig, nil, make(map[string]*healthState)
		if spec.Checks != nil {
			r.serial++
			e.hset = &healthSet{serial: r.serial, key: key, log: r.log}
		}
	}
	bal := r.balancerFor(key, e, spec)
	p := &Pool{key: key, spec: spec, bal: bal}
	p.connect, p.send, p.read = r.opts.ConnectTimeout, r.opts.SendTimeout, r.opts.ReadTimeout
	if t := spec.Timeout; t != nil {
		p.connect, p.send, p.read = seconds(t.Connect), seconds(t.Send), seconds(t.Read)
	}
	if spec.Checks != nil {
		pas, act := passiveThresholds(spec.Checks), activeThresholds(spec.Checks.Active)
		p.passive, p.active = &pas, &act
		p.checkID = checkID(e.hset, spec)
	}
	p.nodes = make([]*Node, len(spec.Nodes))
	for i, ns := range spec.Nodes {
		ck := r.clientKeyFor(spec, ns, p.connect)
		c := r.client(ck, cert)
		bn := &bal.nodes[i]
		p.nodes[i] = &Node{
			Addr: ns.Addr(), Host: ns.Host, Port: ns.Port, Weight: ns.Weight, Priority: ns.Priority,
			HostHeader: hostHeader(ns.Host, ns.Port, spec.Scheme),
			index:      uint16(i), pool: p, client: c, load: bn.load, health: bn.health,
		}
		if ck.https && spec.PassHost == "pass" {
			p.nodes[i].sni = &sniClients{reg: r, key: ck, cert: cert}
		}
	}
	e.pool = p
	return p, nil
}

// balancerFor reuses the key's balancer when its signature is unchanged, else builds one over
// the key's long-lived node state.
func (r *Registry) balancerFor(key string, e *entry, spec *Spec) *balancer {
	sig := balancerSig(spec, e.hset)
	if e.pool != nil && e.pool.bal.sig == sig {
		b := e.pool.bal
		if e.latest.Swap(b) != b && b.algo == algoLeastConn {
			b.refresh()
		}
		return b
	}
	nodes := make([]bnode, len(spec.Nodes))
	for i, ns := range spec.Nodes {
		addr := ns.Addr()
		ld := e.loads[addr]
		if ld == nil {
			ld = newLoadState()
			e.loads[addr] = ld
		}
		var hs *healthState
		if e.hset != nil {
			if hs = e.healths[addr]; hs == nil {
				hs = &healthState{set: e.hset, addr: addr}
				e.healths[addr] = hs
			}
		}
		nodes[i] = bnode{addr: addr, weight: ns.Weight, priority: ns.Priority, load: ld, health: hs}
	}
	b := newBalancer(sig, spec.Type, nodes, e.hset, compileKey(spec.HashOn, spec.Key, r.hostname), r.epoch, e)
	e.latest.Store(b)
	if b.algo == algoLeastConn {
		b.refresh() // now that it is the latest, claim the nodes' least_conn slots
	}
	return b
}

func balancerSig(spec *Spec, hset *healthSet) string {
	var sb strings.Builder
	sb.WriteString(spec.Type)
	if spec.Type == CHash {
		sb.WriteString("|" + spec.HashOn + "|" + spec.Key)
	}
	if hset != nil {
		sb.WriteString("|h" + strconv.FormatUint(hset.serial, 10))
	}
	for _, n := range spec.Nodes {
		sb.WriteString("|" + n.Addr() + "/" + strconv.Itoa(n.Weight) + "/" + strconv.Itoa(n.Priority))
	}
	return sb.String()
}

func checkID(hset *healthSet, spec *Spec) string {
	addrs := make([]string, len(spec.Nodes))
	for i, n := range spec.Nodes {
		addrs[i] = n.Addr()
	}
	slices.Sort(addrs)
	return strconv.FormatUint(hset.serial, 10) + "|" + spec.PassHost + "|" + spec.UpstreamHost + "|" + strings.Join(addrs, ",")
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func clientCert(s *Spec) (*tls.Certificate, error) {
	if s.Scheme != "https" || s.TLS == nil {
		return nil, nil
	}
	if s.TLS.ClientCert == "" {
		if s.TLS.ClientCertID != "" {
			return nil, unsupported("tls.client_cert_id", "must be resolved into client_cert and client_key before building a pool")
		}
		return nil, nil
	}
	c, err := tls.X509KeyPair([]byte(s.TLS.ClientCert), []byte(s.TLS.ClientKey))
	if err != nil {
		return nil, &FieldError{Field: "tls.client_cert", Reason: "client_cert and client_key are not a usable pair: " + err.Error(), Err: ErrClientCert}
	}
	return &c, nil
}

// Delta is a change of the set of live pools, as a snapshot build hands it over: the pools that
// entered the set and those that left it. When Full, Added is the whole set, every pool not in it
// left, and Removed is empty (the first build of a builder).
type Delta struct {
	Added, Removed []*Pool
	Full           bool
}

// Empty reports whether d changes nothing.
func (d Delta) Empty() bool { return !d.Full && len(d.Added) == 0 && len(d.Removed) == 0 }

// Update tells the registry how the set of live pools changed, after a snapshot swap; a Full
// delta is Retain(d.Added). It costs in proportion to the change and to the keys Pool was called
// for since the last Update, not to the number of live pools. State that no live pool uses any
// more is released as Retain releases it: keys that left the config, node addresses that left an
// upstream, and clients (their idle connections are closed), a client as soon as no node of a
// live pool uses it. In-flight requests on released clients complete normally.
func (r *Registry) Update(d Delta) {
	if d.Full {
		r.Retain(d.Added)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// What entered first, so that a client that a retired pool shares with a new one is never
	// released.
	for _, p := range d.Added {
		r.goLive(p)
	}
	for _, p := range d.Removed {
		r.retire(p)
	}
	r.settle()
}

// Retain tells the registry which pools the live snapshot uses, all of them. State that none of
// them uses is released: keys that left the config, node addresses that left an upstream, and
// clients (their idle connections are closed). In-flight requests on released clients complete
// normally. It costs in proportion to every pool the registry holds; Update is its incremental
// form.
func (r *Registry) Retain(live []*Pool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	want := make(map[*Pool]bool, len(live))
	for _, p := range live {
		if p != nil {
			want[p] = true
			r.goLive(p)
		}
	}
	// Every entry has a live pool or was touched since the last settle: only the keys whose
	// live pools change now need settling besides.
	var gone []*Pool
	for _, e := range r.entries {
		for _, p := range e.live {
			if !want[p] {
				gone = append(gone, p)
			}
		}
	}
	for _, p := range gone {
		r.retire(p)
	}
	r.settle()
}

// goLive counts p in the live set: its key's live pools, its nodes' clients. Under r.mu.
func (r *Registry) goLive(p *Pool) {
	if p == nil || p.live {
		return
	}
	p.live = true
	r.touched[p.key] = struct{}{}
	e := r.entries[p.key]
	if e == nil {
		// Released while p was still waiting to go live (a Retain without it): adopt it.
		e = &entry{pool: p, loads: make(map[string]*loadState), healths: make(map[string]*healthState)}
		r.entries[p.key] = e
	}
	e.live = append(e.live, p)
	for _, n := range p.nodes {
		r.use(n.client)
		if n.sni != nil {
			for _, c := range n.sni.clients() {
				r.use(c)
			}
		}
	}
}

// retire takes p out of the live set, releasing the clients no other live pool uses. Under r.mu.
func (r *Registry) retire(p *Pool) {
	if p == nil || !p.live {
		return
	}
	p.live = false
	r.touched[p.key] = struct{}{}
	if e := r.entries[p.key]; e != nil {
		if i := slices.Index(e.live, p); i >= 0 {
			e.live = slices.Delete(e.live, i, i+1)
		}
	}
	for _, n := range p.nodes {
		r.release(n.client)
		if n.sni != nil {
			for _, c := range n.sni.clients() {
				r.release(c)
			}
		}
	}
}

// settle brings the touched keys' entries in line with their live pools and closes the clients
// made since the last Update that no live pool uses. Under r.mu.
func (r *Registry) settle() {
	for key := range r.touched {
		r.settleKey(key)
	}
	if len(r.touched) > 64 {
		r.touched = make(map[string]struct{}) // a cleared map keeps its buckets
	} else {
		clear(r.touched)
	}
	for c := range r.unused {
		if u := r.users[c]; u != nil && u.n == 0 {
			r.drop(c, u)
		}
	}
	if len(r.unused) > 64 {
		r.unused = make(map[*fasthttp.HostClient]struct{})
	} else {
		clear(r.unused)
	}
}

// settleKey releases key's entry when no pool of it is live; otherwise it makes a live pool the
// current one if the last built is not, and keeps only the node state the live pools use.
func (r *Registry) settleKey(key string) {
	e := r.entries[key]
	if e == nil {
		return
	}
	if len(e.live) == 0 {
		delete(r.entries, key)
		r.log.Debug("upstream released", "upstream", key)
		return
	}
	if e.pool == nil || !e.pool.live {
		// The newest pool built for this key did not go live: make the live one current.
		cur := e.live[len(e.live)-1]
		e.pool, e.hset = cur, cur.bal.hset
		e.checksSig = ""
		if cur.spec.Checks != nil {
			b, _ := json.Marshal(cur.spec.Checks)
			e.checksSig = string(b)
		}
		if e.latest.Swap(cur.bal) != cur.bal && cur.bal.algo == algoLeastConn {
			cur.bal.refresh()
		}
	}
	if e.hset != nil {
		// Flips rebuild the views of the live balancers only; the others rebuild lazily.
		live := make([]*balancer, len(e.live))
		for i, p := range e.live {
			live[i] = p.bal
		}
		e.hset.keepOnly(live)
	}
	keep := make(map[string]bool)
	healths := make(map[string]*healthState)
	for _, p := range e.live {
		for _, n := range p.nodes {
			keep[n.Addr] = true
			if e.loads[n.Addr] == nil {
				e.loads[n.Addr] = n.load // an adopted pool
			}
			if n.health != nil && n.health.set == e.hset {
				healths[n.Addr] = n.health
			}
		}
	}
	for addr := range e.loads {
		if !keep[addr] {
			delete(e.loads, addr)
		}
	}
	e.healths = healths
}

// client returns the registry's client for k, making it when there is none. Under r.mu.
func (r *Registry) client(k clientKey, cert *tls.Certificate) *fasthttp.HostClient {
	c := r.clients[k]
	if c == nil {
		c = r.newClient(k, cert)
		r.clients[k] = c
		r.users[c] = &clientUse{key: k}
		r.unused[c] = struct{}{}
	}
	return c
}

// use counts one more node of a live pool using c. Under r.mu.
func (r *Registry) use(c *fasthttp.HostClient) {
	if u := r.users[c]; u != nil {
		u.n++
	}
}

// release counts one node fewer using c, and drops c when none is left. Under r.mu.
func (r *Registry) release(c *fasthttp.HostClient) {
	if u := r.users[c]; u != nil {
		if u.n--; u.n <= 0 {
			r.drop(c, u)
		}
	}
}

// drop closes c's idle connections and forgets it. Under r.mu.
func (r *Registry) drop(c *fasthttp.HostClient, u *clientUse) {
	c.CloseIdleConnections()
	delete(r.users, c)
	delete(r.unused, c)
	if r.clients[u.key] == c {
		delete(r.clients, u.key)
	}
}

// CloseIdleConnections closes the idle connections of every node client, at shutdown.
func (r *Registry) CloseIdleConnections() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.clients {
		c.CloseIdleConnections()
	}
}
