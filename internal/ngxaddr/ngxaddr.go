// Package ngxaddr reads IP addresses and ports as nginx does (ngx_parse_addr_port,
// ngx_inet_addr, ngx_inet6_addr), leniencies included: the real-IP settings and the real-ip
// plugin read client addresses from request headers with it. It allocates nothing and is safe
// for concurrent use.
package ngxaddr

import "net/netip"

// ParseAddrPort is nginx's ngx_parse_addr_port: an address, an address and a port after ':',
// or an IPv6 address in brackets with or without a port. The port, when there is one, is
// 1-65535; without one it is 0. The addresses are read as nginx reads them (parseIPv4,
// parseIPv6), which is more lenient than net/netip in places.
func ParseAddrPort(t []byte) (netip.AddrPort, bool) {
	if a, ok := ParseAddr(t); ok {
		return netip.AddrPortFrom(a, 0), true
	}
	var host, port []byte
	if len(t) > 0 && t[0] == '[' {
		end := indexByte(t, ']')
		if end == len(t)-1 {
			a, ok := ParseAddr(t[1:end])
			return netip.AddrPortFrom(a, 0), ok
		}
		if end < 0 || t[end+1] != ':' {
			return netip.AddrPort{}, false
		}
		host, port = t[1:end], t[end+2:]
	} else {
		c := indexByte(t, ':')
		if c < 0 {
			return netip.AddrPort{}, false
		}
		host, port = t[:c], t[c+1:]
	}
	if len(port) == 0 {
		return netip.AddrPort{}, false
	}
	n := 0
	for _, c := range port {
		if c < '0' || c > '9' {
			return netip.AddrPort{}, false
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return netip.AddrPort{}, false
		}
	}
	if n < 1 {
		return netip.AddrPort{}, false
	}
	a, ok := ParseAddr(host)
	return netip.AddrPortFrom(a, uint16(n)), ok
}

func indexByte(b []byte, c byte) int {
	for i := range b {
		if b[i] == c {
			return i
		}
	}
	return -1
}

// ParseAddr is nginx's ngx_parse_addr: IPv4 (ngx_inet_addr), else IPv6 (ngx_inet6_addr).
func ParseAddr(t []byte) (netip.Addr, bool) {
	if a, ok := parseIPv4(t); ok {
		return netip.AddrFrom4(a), true
	}
	if a, ok := parseIPv6(t); ok {
		return netip.AddrFrom16(a), true
	}
	return netip.Addr{}, false
}

// parseIPv4 is nginx's ngx_inet_addr: four decimal numbers up to 255 and three dots; a number
// may have leading zeros (decimal still) or be empty (0).
func parseIPv4(t []byte) (a [4]byte, ok bool) {
	var addr uint32
	octet, dots := uint32(0), 0
	for _, c := range t {
		switch {
		case '0' <= c && c <= '9':
			if octet = octet*10 + uint32(c-'0'); octet > 255 {
				return a, false
			}
		case c == '.':
			addr, octet = addr<<8+octet, 0
			dots++
		default:
			return a, false
		}
	}
	if dots != 3 {
		return a, false
	}
	addr = addr<<8 + octet
	return [4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}, true
}

// parseIPv6 is nginx's ngx_inet6_addr: eight groups of up to four hex digits, "::" once for a
// run of zero groups, and an IPv4 tail in place of the last two groups. No zone.
func parseIPv6(t []byte) (a [16]byte, ok bool) {
	if len(t) == 0 {
		return a, false
	}
	zero, digit := -1, -1 // where "::" stands in a; where the groups after the last ':' start in t
	o, nibbles, word, n := 0, 0, 0, 8
	i := 0
	if t[0] == ':' {
		i++
	}
	for ; i < len(t); i++ {
		c := t[i]
		if c == ':' {
			if nibbles > 0 {
				digit = i + 1
				a[o], a[o+1] = byte(word>>8), byte(word)
				o += 2
				if n--; n > 0 {
					nibbles, word = 0, 0
					continue
				}
			} else if zero < 0 {
				digit, zero = i+1, o
				continue
			}
			return a, false
		}
		if c == '.' && nibbles > 0 {
			if n < 2 || digit < 0 {
				return a, false
			}
			v4, ok := parseIPv4(t[digit:])
			if !ok {
				return a, false
			}
			a[o], a[o+1] = v4[0], v4[1]
			o += 2
			word = int(v4[2])<<8 | int(v4[3])
			n--
			break
		}
		if nibbles++; nibbles > 4 {
			return a, false
		}
		switch {
		case '0' <= c && c <= '9':
			word = word*16 + int(c-'0')
		case 'a' <= c|0x20 && c|0x20 <= 'f':
			word = word*16 + int(c|0x20-'a') + 10
		default:
			return a, false
		}
	}
	if nibbles == 0 && zero < 0 {
		return a, false
	}
	a[o], a[o+1] = byte(word>>8), byte(word)
	o += 2
	if n--; n > 0 {
		if zero < 0 {
			return a, false
		}
		// Move the groups after "::" to the end and zero the gap.
		gap := n * 2
		copy(a[zero+gap:o+gap], a[zero:o])
		for j := zero; j < zero+gap; j++ {
			a[j] = 0
		}
		return a, true
	}
	return a, zero < 0
}
