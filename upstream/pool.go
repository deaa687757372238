package upstream

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// Pool is one upstream compiled for serving: its nodes with their clients and long-lived state,
// and its balancer. A Pool is immutable and safe for concurrent use; get one from Registry.Pool.
type Pool struct {
	key     string
	spec    *Spec
	bal     *balancer
	nodes   []*Node
	passive *thresholds // nil without checks
	active  *thresholds // nil without checks
	checkID string

	connect, send, read time.Duration

	live bool // in the registry's live set (guarded by Registry.mu)
}

// Node is one upstream node of a Pool. Its exported fields are read-only.
type Node struct {
	Addr     string // dial address "host:port"
	Host     string // as configured; IPv6 literals in brackets
	Port     int
	Weight   int
	Priority int
	// HostHeader is the Host an upstream request carries under pass_host "node": the node's host,
	// with ":port" unless the port is the scheme's default (APISIX parse_server_for_upstream_host).
	HostHeader string

	index  uint16
	pool   *Pool
	client *fasthttp.HostClient
	sni    *sniClients // https under pass_host "pass": clients by the request's host
	load   *loadState
	health *healthState // nil without checks
}

// Key is where the pool's spec came from, as given to Registry.Pool.
func (p *Pool) Key() string { return p.key }

// Spec is the upstream object the pool was built from. Do not modify it.
func (p *Pool) Spec() *Spec { return p.spec }

// Nodes lists the pool's nodes in configuration order. Do not modify the slice.
func (p *Pool) Nodes() []*Node { return p.nodes }

// Timeouts are the upstream's connect, send and read timeouts, or the registry's defaults when
// the upstream sets none. A route's own timeout takes precedence over both.
func (p *Pool) Timeouts() (connect, send, read time.Duration) { return p.connect, p.send, p.read }

// CheckID identifies the active health check this pool needs: "" without checks.active. Two
// pools with equal CheckIDs probe the same targets with the same settings into the same health
// state, so a running checker can be kept.
func (p *Pool) CheckID() string { return p.checkID }

// Pick chooses the node for one try of a request, skipping the nodes in tried (which may be
// nil). It returns nil when nothing can be picked: no nodes, two or more nodes all of weight 0,
// or every candidate tried. Only the highest priority group that still has an untried candidate
// is used. Unhealthy nodes are not candidates unless every node is unhealthy, in which case
// health is ignored. An upstream of a single node returns that node on every try, even at weight
// 0, as APISIX retries a lone node on itself. For chash, ctx supplies the key (nil hashes an
// empty key). Every Pick must be followed by exactly one Done on the returned node.
func (p *Pool) Pick(ctx *fasthttp.RequestCtx, tried *Tried) *Node {
	switch len(p.nodes) {
	case 0:
		return nil
	case 1:
		// As APISIX's pick_server: the only node is used without asking the balancer, whatever
		// its weight (least_conn's balancer keeps a weight-0 node too, at an infinite score).
		n := p.nodes[0]
		if p.bal.algo == algoLeastConn {
			n.load.acquire(nil, 0)
		}
		return n
	}
	i := p.bal.pick(ctx, tried)
	if i < 0 {
		return nil
	}
	return p.nodes[i]
}

// Client is the pooled HTTP client for this node. Clients are shared by every node with the same
// address and connection settings and are reused across config updates.
func (n *Node) Client() *fasthttp.HostClient { return n.client }

// Done reports the outcome of one try on this node: status is the upstream's response status
// when err is nil; err is non-nil when the try failed before a response status was read (connect
// error, reset, timeout); elapsed is the try's duration. It releases the least_conn in-flight
// count, feeds ewma latency (successful tries only, as APISIX updates it once a response is in)
// and feeds passive health: failed tries count as TCP failures or timeouts whenever checks are
// configured, statuses only when checks.passive is.
func (n *Node) Done(status int, err error, elapsed time.Duration) {
	p := n.pool
	switch p.bal.algo {
	case algoLeastConn:
		n.load.release()
	case algoEWMA:
		if err == nil {
			n.load.observe(elapsed, p.bal.epoch)
		}
	}
	if n.health == nil {
		return
	}
	switch {
	case err != nil && isTimeout(err):
		n.health.report(false, ctrTimeout, p.passive.timeouts, "passive")
	case err != nil:
		n.health.report(false, ctrTCP, p.passive.tcpFails, "passive")
	case p.passive.reportStatuses:
		p.passive.status(n.health, status, "passive")
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, fasthttp.ErrDialTimeout) {
		return true
	}
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Probe classifies the result of one active health probe.
type Probe uint8

const (
	// ProbeStatus: an HTTP status line was read; status 0 means it could not be parsed.
	ProbeStatus Probe = iota
	// ProbeConnected: a tcp check connected.
	ProbeConnected
	// ProbeTCPFailure: connecting, the TLS handshake, sending or receiving failed.
	ProbeTCPFailure
	// ProbeTimeout: one of those operations timed out.
	ProbeTimeout
)

// ReportProbe records an active probe of this node against checks.active's thresholds. It does
// nothing when the pool has no checks.
func (n *Node) ReportProbe(kind Probe, status int) {
	if n.health == nil {
		return
	}
	a := n.pool.active
	switch kind {
	case ProbeStatus:
		a.status(n.health, status, "active")
	case ProbeConnected:
		n.health.report(true, ctrSuccess, a.successes, "active")
	case ProbeTCPFailure:
		n.health.report(false, ctrTCP, a.tcpFails, "active")
	case ProbeTimeout:
		n.health.report(false, ctrTimeout, a.timeouts, "active")
	}
}

// Healthy reports whether the node is routable as far as health goes (always true without
// checks).
func (n *Node) Healthy() bool { return n.health == nil || n.health.healthy() }

// InFlight is the number of least_conn requests on this node's address, counted across every
// pool version of the upstream (0 for other balancers).
func (n *Node) InFlight() int64 { return n.load.inflight() }

func hostHeader(host string, port int, scheme string) string {
	if port == defaultPort(scheme) {
		return host
	}
	return host + ":" + strconv.Itoa(port)
}

// isIPHost reports whether a node host is an IP literal (IPv6 in brackets).
func isIPHost(h string) bool {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	_, err := netip.ParseAddr(h)
	return err == nil
}
