package proxy

import (
	"net"
	"net/netip"
	"sync"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/internal/ngxaddr"
)

// RealIP is nginx's realip module as APISIX configures it (nginx_config.http real_ip_header,
// real_ip_recursive, real_ip_from): when the peer is trusted, the client address ($remote_addr)
// comes from a request header. See Options.RealIP.
type RealIP struct {
	// Header is real_ip_header (default, when empty, "X-Real-IP"). Spelled exactly
	// "X-Forwarded-For" (nginx compares the spelling), every X-Forwarded-For field is read, the
	// last first; any other name reads the first field of that name, in any letter case. Either
	// way a field's value is a list of addresses, read from the right. ("proxy_protocol" is not
	// supported: it is taken as a header of that name.)
	Header string
	// From are the trusted peers (set_real_ip_from): an address is trusted when a prefix
	// contains it, an IPv4-mapped IPv6 address as its IPv4 form (as nginx's ngx_cidr_match).
	// Empty: no peer is trusted.
	From []netip.Prefix
	// FromUnix trusts peers on a unix socket (set_real_ip_from unix:).
	FromUnix bool
	// Recursive is real_ip_recursive: walk the header's addresses from the right while they
	// are trusted; the first one that is not (or the leftmost) is the client.
	Recursive bool
}

// DefaultRealIP returns APISIX's settings (apisix/cli/config.lua): X-Real-IP from 127.0.0.1
// and unix sockets, not recursive.
func DefaultRealIP() *RealIP {
	return &RealIP{Header: "X-Real-IP", From: []netip.Prefix{netip.PrefixFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 32)},
		FromUnix: true}
}

// How realIP finds the header, as nginx's real_ip_header directive tells its types apart.
const (
	realIPXRealIP uint8 = iota // "X-Real-IP": the first X-Real-IP field
	realIPXFF                  // "X-Forwarded-For": every X-Forwarded-For field, last first
	realIPOther                // any other name: the first field of that name
)

// realIP is a RealIP compiled once per Options: read only, shared by every request.
type realIP struct {
	kind      uint8
	header    string // the field name, for realIPOther
	from      []netip.Prefix
	unix      bool
	recursive bool
}

func compileRealIP(r *RealIP) *realIP {
	if r == nil {
		r = DefaultRealIP()
	}
	if len(r.From) == 0 && !r.FromUnix {
		return nil // nothing is trusted: $remote_addr is always the peer
	}
	c := &realIP{header: r.Header, unix: r.FromUnix, recursive: r.Recursive}
	switch r.Header {
	case "", "X-Real-IP":
		c.kind, c.header = realIPXRealIP, "X-Real-IP"
	case "X-Forwarded-For":
		c.kind = realIPXFF
	default:
		c.kind = realIPOther
	}
	for _, p := range r.From {
		if p.IsValid() {
			c.from = append(c.from, p.Masked())
		}
	}
	return c
}

// trusts reports whether a is a trusted peer.
func (r *realIP) trusts(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range r.from {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is a request's client address from the real-IP header, handed to the request as
// its remote address (fasthttp.RequestCtx.SetRemoteAddr). Pooled: ip backs tcp.IP.
type clientAddr struct {
	tcp net.TCPAddr
	ip  [16]byte
}

var clientAddrs = sync.Pool{New: func() any { return new(clientAddr) }}

// The outcomes of a walk, as nginx's ngx_http_get_forwarded_addr returns them.
const (
	walkDeclined = iota // the address stays as it was (NGX_DECLINED)
	walkOK              // an address was taken and the walk ran to its end (NGX_OK)
	walkDone            // an address was taken and the walk stopped early (NGX_DONE)
)

// setClientAddr makes the request's client address the one its real-IP header gives, when the
// peer is trusted, the way nginx's realip module replaces $remote_addr in the post-read phase:
// the router (remote_addrs, vars), the forwarding headers and the access log then read it from
// ctx.RemoteAddr, and $realip_remote_addr, the peer, stays ctx.Conn().RemoteAddr(). It returns
// the address set, to be released (releaseClientAddr) when the request ends, or nil when the
// address stays the peer's. It allocates nothing: s tells whether the header is there at all.
func setClientAddr(ctx *fasthttp.RequestCtx, r *realIP, s *headScan) *clientAddr {
	if r == nil {
		return nil
	}
	h := &ctx.Request.Header
	var one []byte
	switch r.kind {
	case realIPXRealIP:
		if !s.noRaw && s.fwd&fwdRealIP == 0 {
			return nil
		}
		if one = h.Peek(r.header); one == nil {
			return nil
		}
	case realIPXFF:
		if s.xff == 0 {
			return nil
		}
	default:
		if one = h.Peek(r.header); one == nil {
			return nil
		}
	}
	var cur netip.AddrPort
	unixPeer := false
	switch a := ctx.RemoteAddr().(type) {
	case *net.TCPAddr:
		ip, _ := netip.AddrFromSlice(a.IP)
		cur = netip.AddrPortFrom(ip, uint16(a.Port))
	case *net.UnixAddr:
		unixPeer = true
	default:
		return nil
	}
	rc := walkDeclined
	if r.kind != realIPXFF {
		rc = r.walk(&cur, one, unixPeer)
	} else {
		// ngx_http_get_forwarded_addr: the fields from the last to the first; without
		// recursion only the last one counts.
		all := h.PeekAll(fasthttp.HeaderXForwardedFor)
		found := false
		for i := len(all) - 1; i >= 0; i-- {
			rc = r.walk(&cur, all[i], unixPeer && i == len(all)-1)
			if !r.recursive {
				break
			}
			if rc == walkDeclined && found {
				rc = walkDone
				break
			}
			if rc != walkOK {
				break
			}
			found = true
		}
	}
	if rc == walkDeclined {
		return nil
	}
	ca := clientAddrs.Get().(*clientAddr)
	a := cur.Addr()
	if a.Is4() {
		b := a.As4()
		copy(ca.ip[:], b[:])
		ca.tcp.IP = ca.ip[:4]
	} else {
		ca.ip = a.As16()
		ca.tcp.IP = ca.ip[:]
	}
	ca.tcp.Port = int(cur.Port())
	ctx.SetRemoteAddr(&ca.tcp)
	return ca
}

// releaseClientAddr gives the request its peer's address back and returns ca to the pool.
func releaseClientAddr(ctx *fasthttp.RequestCtx, ca *clientAddr) {
	ctx.SetRemoteAddr(nil)
	clientAddrs.Put(ca)
}

// walk is nginx's ngx_http_get_forwarded_addr_internal over one field value v: while the
// current address is trusted, the rightmost address not yet taken (separated by spaces and
// commas) replaces it; without recursion, one step only. An address that does not parse ends
// the walk, keeping the last one taken. unixPeer: cur is not an address but the peer on a unix
// socket.
func (r *realIP) walk(cur *netip.AddrPort, v []byte, unixPeer bool) int {
	found := false
	n := len(v)
	for {
		trusted := r.unix
		if !unixPeer || found {
			trusted = r.trusts(cur.Addr())
		}
		if !trusted {
			break
		}
		if n <= 0 {
			break // an empty value: nothing parses
		}
		p := n - 1
		for p > 0 && (v[p] == ' ' || v[p] == ',') {
			p--
			n--
		}
		for p > 0 {
			if v[p] == ' ' || v[p] == ',' {
				p++
				break
			}
			p--
		}
		a, ok := ngxaddr.ParseAddrPort(v[p:n])
		if !ok {
			break
		}
		*cur, found = a, true
		n = p - 1
		if !r.recursive || p <= 0 {
			return walkOK
		}
	}
	if found {
		return walkDone
	}
	return walkDeclined
}
