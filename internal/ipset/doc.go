// Package ipset holds immutable sets of IP addresses and CIDR prefixes, as
// APISIX's route remote_addrs and the lua-resty-expr ipmatch operator use them
// (lua-resty-ipmatcher).
//
// A Set is built once and then only read: it is safe for concurrent use.
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are treated as the IPv4 address
// they carry, both in a set and in the address looked up.
package ipset
