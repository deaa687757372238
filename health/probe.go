package health

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/upstream"
)

// target is where and how one node is probed.
type target struct {
	addr string // dial address: node host, checks.active.port or the node's port
	host string // Host header and TLS server name
}

// targetOf follows APISIX's healthcheck_manager: the Host header is upstream_host under
// pass_host "rewrite", else the node's own name when it is a domain, else checks.active.host,
// else the node's IP.
func targetOf(spec *upstream.Spec, n *upstream.Node) target {
	a := spec.Checks.Active
	port := n.Port
	if a.Port != 0 {
		port = a.Port
	}
	t := target{addr: n.Host + ":" + strconv.Itoa(port)}
	switch {
	case spec.PassHost == "rewrite":
		t.host = spec.UpstreamHost
	case !isIP(n.Host):
		t.host = n.Host
	case a.Host != "":
		t.host = a.Host
	default:
		t.host = n.Host
	}
	return t
}

func isIP(h string) bool {
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	_, err := netip.ParseAddr(h)
	return err == nil
}

// probe runs one check of n and reports its outcome. Nothing is reported when the checker is
// stopping.
func (c *checker) probe(p *upstream.Pool, n *upstream.Node) {
	kind, status := c.check(p.Spec(), n)
	if c.ctx.Err() != nil {
		return
	}
	n.ReportProbe(kind, status)
}

func (c *checker) check(spec *upstream.Spec, n *upstream.Node) (upstream.Probe, int) {
	a := spec.Checks.Active
	t := targetOf(spec, n)
	timeout := time.Duration(a.Timeout * float64(time.Second))
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(c.ctx, "tcp", t.addr)
	if err != nil {
		return failure(err)
	}
	defer conn.Close()
	stop := context.AfterFunc(c.ctx, func() { conn.Close() })
	defer stop()
	if a.Type == "tcp" {
		return upstream.ProbeConnected, 0
	}
	if a.Type == "https" {
		tc := tls.Client(conn, &tls.Config{
			ServerName:         strings.TrimSuffix(strings.TrimPrefix(t.host, "["), "]"),
			InsecureSkipVerify: !a.HTTPSVerifyCertificate, //nolint:gosec // as configured
			RootCAs:            c.m.rootCAs,
			MinVersion:         tls.VersionTLS12,
		})
		_ = tc.SetDeadline(time.Now().Add(timeout))
		if err := tc.Handshake(); err != nil {
			// lua-resty-healthcheck counts a failed handshake as a TCP failure, timeout or not.
			return upstream.ProbeTCPFailure, 0
		}
		conn = tc
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	if _, err := conn.Write(request(a, t.host)); err != nil {
		return failure(err)
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	line, err := bufio.NewReaderSize(conn, 512).ReadSlice('\n')
	if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
		return failure(err)
	}
	return upstream.ProbeStatus, statusOf(line)
}

func failure(err error) (upstream.Probe, int) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return upstream.ProbeTimeout, 0
	}
	return upstream.ProbeTCPFailure, 0
}

// request is the probe's HTTP/1.1 request: method, path, "Connection: close", the configured
// raw header lines, Host, and the body with its length when there is one.
func request(a *upstream.ActiveCheck, host string) []byte {
	var b strings.Builder
	b.WriteString(a.HTTPMethod + " " + a.HTTPPath + " HTTP/1.1\r\nConnection: close\r\n")
	for _, h := range a.ReqHeaders {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Host: " + host + "\r\n")
	if a.HTTPReqBody != "" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(a.HTTPReqBody)) + "\r\n")
	}
	b.WriteString("\r\n" + a.HTTPReqBody)
	return []byte(b.String())
}

// statusOf parses `HTTP/<d>.<d> <status>`; anything else is 0, which counts as an HTTP failure.
func statusOf(line []byte) int {
	s := string(line)
	rest, ok := strings.CutPrefix(s, "HTTP/")
	if !ok {
		return 0
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i >= len(rest) || rest[i] != '.' {
		return 0
	}
	rest = rest[i+1:]
	i = 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0
	}
	if rest = rest[i:]; rest == "" || rest[0] != ' ' && rest[0] != '\t' {
		return 0
	}
	rest = strings.TrimLeft(rest, " \t")
	i = 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	code, err := strconv.Atoi(rest[:i])
	if err != nil {
		return 0
	}
	return code
}
