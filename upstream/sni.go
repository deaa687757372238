package upstream

import (
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// maxSNIClients bounds the clients a node keeps per TLS server name under pass_host "pass".
// Beyond it, requests for new names use the node's default client (no SNI for an IP node).
const maxSNIClients = 64

// sniClients are a node's clients by TLS server name: APISIX sends the client's Host as SNI to an
// https upstream under pass_host "pass" (proxy_ssl_name $upstream_host), so each name needs its
// own connection pool. Reads are lock-free (a copy-on-write map); a new name takes the mutex once.
// A new name's client is stored under the registry's mutex too, so that the registry counts it
// among the clients in use exactly when the node's pool is live.
type sniClients struct {
	reg  *Registry
	key  clientKey // the node's client key; sni varies
	cert *tls.Certificate

	mu sync.Mutex
	m  atomic.Pointer[map[string]*fasthttp.HostClient]
}

// SNIFromHost reports whether the request's host is the TLS server name of this node's
// connections (https under pass_host "pass"), that is whether ClientFor depends on the host.
func (n *Node) SNIFromHost() bool { return n.sni != nil }

// ClientFor returns the client for a request whose Host (without port) is host: under pass_host
// "pass" to an https upstream, a client whose TLS server name is host; otherwise Client(). It does
// not allocate once a name has been seen.
func (n *Node) ClientFor(host []byte) *fasthttp.HostClient {
	s := n.sni
	if s == nil || len(host) == 0 {
		return n.client
	}
	if m := s.m.Load(); m != nil {
		if c, ok := (*m)[string(host)]; ok {
			return c
		}
	}
	return s.add(string(host), n)
}

func (s *sniClients) add(name string, n *Node) *fasthttp.HostClient {
	fallback := n.client
	if net.ParseIP(name) != nil {
		return fallback // an IP address is never sent as SNI
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.m.Load()
	if old != nil {
		if c, ok := (*old)[name]; ok {
			return c
		}
		if len(*old) >= maxSNIClients {
			return fallback
		}
	}
	k := s.key
	k.sni = name
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.client(k, s.cert)
	m := make(map[string]*fasthttp.HostClient, 1)
	if old != nil {
		for name, oc := range *old {
			m[name] = oc
		}
	}
	m[name] = c
	s.m.Store(&m)
	if n.pool.live {
		r.use(c) // a pool that goes live or retires later counts it with the others
	}
	return c
}

// clients lists the node's per-name clients, for the registry's count of clients in use.
func (s *sniClients) clients() []*fasthttp.HostClient {
	m := s.m.Load()
	if m == nil {
		return nil
	}
	out := make([]*fasthttp.HostClient, 0, len(*m))
	for _, c := range *m {
		out = append(out, c)
	}
	return out
}
