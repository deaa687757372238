package router_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
	"github.com/zoneproxy/zoneproxy/router"
)

// This file is the test harness of the conformance suite: it turns APISIX
// route JSON into a Table the way the snapshot builder does (service hosts
// inherited, status 0 dropped, etcd key order) and builds fasthttp request
// contexts from raw HTTP requests.

// apisixRoute is the part of /apisix/routes/<id> that matters for matching.
type apisixRoute struct {
	ID          json.RawMessage `json:"id"`
	URI         string          `json:"uri"`
	URIs        []string        `json:"uris"`
	Host        string          `json:"host"`
	Hosts       []string        `json:"hosts"`
	Methods     []string        `json:"methods"`
	RemoteAddr  string          `json:"remote_addr"`
	RemoteAddrs []string        `json:"remote_addrs"`
	Vars        json.RawMessage `json:"vars"`
	Priority    int             `json:"priority"`
	Status      *int            `json:"status"`
	ServiceID   json.RawMessage `json:"service_id"`
}

type apisixService struct {
	Hosts []string `json:"hosts"`
}

// rawID turns a JSON id (string or integer) into its etcd key segment.
func rawID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

// buildTable decodes routes (a JSON array) and services (a JSON object
// keyed by id, may be empty) and builds a Table. It returns the route ids
// by Value.
func buildTable(t testing.TB, routesJSON, servicesJSON string, mode router.Mode) (*router.Table, []string) {
	t.Helper()
	var routes []apisixRoute
	if err := json.Unmarshal([]byte(routesJSON), &routes); err != nil {
		t.Fatalf("routes JSON: %v", err)
	}
	services := map[string]apisixService{}
	if servicesJSON != "" {
		if err := json.Unmarshal([]byte(servicesJSON), &services); err != nil {
			t.Fatalf("services JSON: %v", err)
		}
	}
	// etcd lists keys in byte order: /apisix/routes/1 < /apisix/routes/10 < /apisix/routes/2.
	slices.SortStableFunc(routes, func(a, b apisixRoute) int { return strings.Compare(rawID(a.ID), rawID(b.ID)) })
	var compiled []*router.Compiled
	var ids []string
	for _, r := range routes {
		id := rawID(r.ID)
		if r.Status != nil && *r.Status == 0 {
			continue
		}
		rt := router.Route{
			ID: id, URI: r.URI, URIs: r.URIs, Host: r.Host, Hosts: r.Hosts, Methods: r.Methods,
			RemoteAddr: r.RemoteAddr, RemoteAddrs: r.RemoteAddrs, Vars: r.Vars,
			Priority: r.Priority, Value: len(ids),
		}
		if rt.Host == "" && rt.Hosts == nil && len(r.ServiceID) > 0 {
			rt.Hosts = services[rawID(r.ServiceID)].Hosts
		}
		c, err := router.Compile(rt)
		if err != nil {
			t.Fatalf("compile route %s: %v", id, err)
		}
		compiled = append(compiled, c)
		ids = append(ids, id)
	}
	tab, err := router.New(compiled, mode)
	if err != nil {
		t.Fatalf("new table: %v", err)
	}
	return tab, ids
}

// req describes one HTTP request.
type req struct {
	method  string   // default GET
	target  string   // request target, default "/"
	host    string   // Host header; default "localhost" (test-nginx's)
	noHost  bool     // send no Host header (HTTP/1.0)
	headers []string // extra "Name: value" lines
	body    string
	remote  string // client "ip" or "ip:port"; default 127.0.0.1
	local   string // server "ip:port"; default 127.0.0.1:1984 (test-nginx's)
	tls     bool
}

func (r req) String() string {
	m := r.method
	if m == "" {
		m = "GET"
	}
	s := m + " " + r.target
	if r.host != "" {
		s += " Host:" + r.host
	}
	if len(r.headers) > 0 {
		s += " " + strings.Join(r.headers, " | ")
	}
	if r.remote != "" {
		s += " from " + r.remote
	}
	return s
}

// fakeConn carries the addresses a RequestCtx reports.
type fakeConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *fakeConn) LocalAddr() net.Addr  { return c.local }
func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }

// fakeTLSConn makes ctx.IsTLS() true.
type fakeTLSConn struct{ fakeConn }

func (c *fakeTLSConn) Handshake() error                     { return nil }
func (c *fakeTLSConn) ConnectionState() tls.ConnectionState { return tls.ConnectionState{} }

func tcpAddr(t testing.TB, s string, defPort int) *net.TCPAddr {
	t.Helper()
	host, port := s, fmt.Sprint(defPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	}
	a, err := net.ResolveTCPAddr("tcp", net.JoinHostPort(host, port))
	if err != nil {
		t.Fatalf("address %q: %v", s, err)
	}
	return a
}

// ctx parses the request from its wire form, as the server would.
func (r req) ctx(t testing.TB) *fasthttp.RequestCtx {
	t.Helper()
	method, target := r.method, r.target
	if method == "" {
		method = "GET"
	}
	if target == "" {
		target = "/"
	}
	var b strings.Builder
	proto := "HTTP/1.1"
	if r.noHost {
		proto = "HTTP/1.0"
	}
	fmt.Fprintf(&b, "%s %s %s\r\n", method, target, proto)
	if !r.noHost {
		host := r.host
		if host == "" {
			host = "localhost"
		}
		fmt.Fprintf(&b, "Host: %s\r\n", host)
	}
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	if r.body != "" {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	}
	b.WriteString("\r\n" + r.body)

	var fr fasthttp.Request
	if err := fr.Read(bufio.NewReader(strings.NewReader(b.String()))); err != nil {
		t.Fatalf("parse request %q: %v", b.String(), err)
	}
	remote, local := r.remote, r.local
	if remote == "" {
		remote = "127.0.0.1"
	}
	if local == "" {
		local = "127.0.0.1:1984"
	}
	fc := fakeConn{local: tcpAddr(t, local, 1984), remote: tcpAddr(t, remote, 40000)}
	var conn net.Conn = &fc
	if r.tls {
		conn = &fakeTLSConn{fc}
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init2(conn, nil, false)
	fr.CopyTo(&ctx.Request)
	return ctx
}
