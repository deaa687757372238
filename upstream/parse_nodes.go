package upstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// maxNodes bounds an upstream's node list: balancers index nodes with uint16.
const maxNodes = 1<<16 - 1

// maxWeight is the largest weight a Lua number (APISIX's) holds exactly: APISIX's schema sets no
// maximum, and its balancers divide weights by their gcd (t/node/chash-balance.t uses 4e9).
// Balancers scale weight sums that overflow in floating point (normalizeWeights).
const maxWeight = 1<<53 - 1

// parseNodesField reads `nodes` in either APISIX form:
//
//	{"host:port": weight, ...}                              (map form, port optional)
//	[{"host": h, "port": p, "weight": w, "priority": n}]  (array form)
//
// Missing ports default by scheme (80 http, 443 https). A repeated address keeps its first
// position and its last weight and priority, as a Lua table built from the list would.
func parseNodesField(obj map[string]json.RawMessage, s *Spec) error {
	raw, ok := obj["nodes"]
	if !ok {
		return nil
	}
	var nodes []NodeSpec
	var err error
	switch jsonKind(raw) {
	case '{':
		nodes, err = parseNodeMap(raw, s.Scheme)
	case '[':
		nodes, err = parseNodeArray(raw, s.Scheme)
	default:
		return invalid("nodes", "must be an object of \"host:port\": weight or an array of nodes")
	}
	if err != nil {
		return err
	}
	nodes = dedupeNodes(nodes)
	if len(nodes) > maxNodes {
		return invalid("nodes", fmt.Sprintf("has %d nodes, more than %d", len(nodes), maxNodes))
	}
	s.Nodes = nodes
	return nil
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

func parseNodeMap(raw json.RawMessage, scheme string) ([]NodeSpec, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return nil, invalid("nodes", "must be an object")
	}
	nodes := []NodeSpec{} // as the array form: an empty object is no nodes, not a missing list
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("nodes", "must be an object")
		}
		addr, _ := tok.(string)
		var w json.RawMessage
		if err := dec.Decode(&w); err != nil {
			return nil, invalid("nodes", "must be an object")
		}
		weight, err := parseWeight(w, addr)
		if err != nil {
			return nil, err
		}
		host, port, err := splitNodeAddr(addr, scheme)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, NodeSpec{Host: host, Port: port, Weight: weight})
	}
	return nodes, nil
}

func parseWeight(raw json.RawMessage, addr string) (int, error) {
	n, err := asInt(raw, "nodes")
	if err != nil {
		return 0, invalid("nodes", fmt.Sprintf("%q weight must be an integer", addr))
	}
	if n < 0 {
		return 0, invalid("nodes", fmt.Sprintf("%q weight must be >= 0", addr))
	}
	if n > maxWeight {
		return 0, invalid("nodes", fmt.Sprintf("%q weight must be <= %d", addr, maxWeight))
	}
	return int(n), nil
}

// splitNodeAddr splits a map-form key the way APISIX's core.utils.parse_addr does: "[v6]:port",
// "[v6]", a bare IPv6 literal (no port), "host:port" or "host".
func splitNodeAddr(addr, scheme string) (string, int, error) {
	bad := func(what string) error { return invalid("nodes", fmt.Sprintf("%q %s", addr, what)) }
	var host, port string
	switch {
	case strings.HasPrefix(addr, "["):
		end := strings.IndexByte(addr, ']')
		if end < 0 {
			return "", 0, bad("host is invalid")
		}
		host, port = addr[:end+1], strings.TrimPrefix(addr[end+1:], ":")
		if addr[end+1:] != "" && !strings.HasPrefix(addr[end+1:], ":") {
			return "", 0, bad("host is invalid")
		}
		if _, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil {
			return "", 0, bad("host is invalid")
		}
	case strings.Count(addr, ":") >= 2:
		a, err := netip.ParseAddr(addr)
		if err != nil || !a.Is6() {
			return "", 0, bad("host is invalid")
		}
		host = "[" + addr + "]"
	default:
		host, port = addr, ""
		if i := strings.LastIndexByte(addr, ':'); i >= 0 {
			host, port = addr[:i], addr[i+1:]
		}
		if !validNodeHost(host) {
			return "", 0, bad("host is invalid")
		}
	}
	if port == "" {
		return host, defaultPort(scheme), nil
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return "", 0, bad("port must be 1..65535")
	}
	return host, p, nil
}

// validNodeHost accepts a DNS name or IPv4 literal: the characters of APISIX's host_def without
// the wildcard, which cannot name a node.
func validNodeHost(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func parseNodeArray(raw json.RawMessage, scheme string) ([]NodeSpec, error) {
	items, err := asArray(raw, "nodes")
	if err != nil {
		return nil, err
	}
	nodes := make([]NodeSpec, 0, len(items))
	for i, item := range items {
		field := "nodes[" + strconv.Itoa(i) + "]"
		obj, err := asObject(item, field)
		if err != nil {
			return nil, err
		}
		n, err := parseNodeObject(obj, field, scheme)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func parseNodeObject(obj map[string]json.RawMessage, field, scheme string) (NodeSpec, error) {
	var n NodeSpec
	rawHost, ok := obj["host"]
	if !ok {
		return n, invalid(field+".host", "is required")
	}
	host, err := parseHostDef(rawHost, field+".host")
	if err != nil {
		return n, err
	}
	// APISIX's data plane brackets a bare IPv6 literal; anything else must be a usable host.
	if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
		host = "[" + host + "]"
	} else if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return n, invalid(field+".host", fmt.Sprintf("%q is not a valid host", host))
		}
		if _, err := netip.ParseAddr(host[1 : len(host)-1]); err != nil {
			return n, invalid(field+".host", fmt.Sprintf("%q is not a valid host", host))
		}
	} else if !validNodeHost(host) {
		return n, invalid(field+".host", fmt.Sprintf("%q is not a valid host", host))
	}
	n.Host = host
	rawWeight, ok := obj["weight"]
	if !ok {
		return n, invalid(field+".weight", "is required")
	}
	if n.Weight, err = parseWeight(rawWeight, host); err != nil {
		return n, invalid(field+".weight", err.(*FieldError).Reason)
	}
	n.Port = defaultPort(scheme)
	if raw, ok := obj["port"]; ok {
		if n.Port, err = asIntRange(raw, field+".port", 1, 65535); err != nil {
			return n, err
		}
	}
	if raw, ok := obj["priority"]; ok {
		if n.Priority, err = asIntRange(raw, field+".priority", -1<<31, 1<<31-1); err != nil {
			return n, err
		}
	}
	if raw, ok := obj["metadata"]; ok {
		if _, err := asObject(raw, field+".metadata"); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Addr is the node's dial address, "host:port" (IPv6 hosts keep their brackets).
func (n NodeSpec) Addr() string { return n.Host + ":" + strconv.Itoa(n.Port) }

func dedupeNodes(nodes []NodeSpec) []NodeSpec {
	seen := make(map[string]int, len(nodes))
	out := nodes[:0]
	for _, n := range nodes {
		if i, ok := seen[n.Addr()]; ok {
			out[i].Weight, out[i].Priority = n.Weight, n.Priority
			continue
		}
		seen[n.Addr()] = len(out)
		out = append(out, n)
	}
	return out
}
