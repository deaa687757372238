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
	return s.add(string(host), n.client)
}

func (s *sniClients) add(name string, fallback *fasthttp.HostClient) *fasthttp.HostClient {
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
	c := s.reg.sharedClient(k, s.cert)
	m := make(map[string]*fasthttp.HostClient, 1)
	if old != nil {
		for n, oc := range *old {
			m[n] = oc
		}
	}
	m[name] = c
	s.m.Store(&m)
	return c
}

// clients lists the node's per-name clients, for Retain.
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

// sharedClient returns the registry's client for k, building it when there is none.
func (r *Registry) sharedClient(k clientKey, cert *tls.Certificate) *fasthttp.HostClient {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.clients[k]
	if c == nil {
		c = r.newClient(k, cert)
		r.clients[k] = c
	}
	return c
}
