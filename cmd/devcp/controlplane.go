package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
)

type cpOptions struct {
	dir       string
	ports     string
	members   int
	upstreams []string
	seed      bool
	log       *slog.Logger
}

type controlPlane struct {
	cluster   *cptest.Cluster
	ports     []int // endpoint ports, one per pretend zone (az1, az2, ...)
	upstreams []*http.Server
}

func startControlPlane(ctx context.Context, o cpOptions) (*controlPlane, error) {
	var ports []int
	for _, p := range splitList(o.ports) {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("-ports: %q is not a port", p)
		}
		ports = append(ports, n)
	}
	if len(ports) == 0 {
		return nil, errors.New("-ports: no port")
	}
	members := o.members
	if members != 1 {
		members = len(ports)
	}
	// etcd's data is recreated on every start: the demo begins from the same state each time.
	if err := os.RemoveAll(o.dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.dir, 0o750); err != nil {
		return nil, err
	}
	cp := &controlPlane{ports: ports}
	for i, addr := range o.upstreams {
		srv, err := startDemoUpstream(addr, fmt.Sprintf("demo-%d", i+1))
		if err != nil {
			cp.Close()
			return nil, fmt.Errorf("demo upstream %s: %w", addr, err)
		}
		cp.upstreams = append(cp.upstreams, srv)
	}
	cluster, err := cptest.Start(ctx, cptest.Options{
		Endpoints: len(ports), Members: members, Ports: ports,
		Dir: o.dir + "/etcd", Logger: o.log,
	})
	if err != nil {
		cp.Close()
		return nil, err
	}
	cp.cluster = cluster
	if _, err := cluster.WriteFiles(o.dir); err != nil {
		cp.Close()
		return nil, err
	}
	if o.seed {
		if err := seedDemo(ctx, cluster, o.upstreams); err != nil {
			cp.Close()
			return nil, fmt.Errorf("seed demo routes: %w", err)
		}
	}
	return cp, nil
}

func (cp *controlPlane) Close() {
	if cp.cluster != nil {
		_ = cp.cluster.Close()
	}
	for _, s := range cp.upstreams {
		_ = s.Close()
	}
}

// seedDemo puts what an APISIX control plane would hold for a small demo: directory placeholders,
// one upstream object with the demo nodes, and three routes.
func seedDemo(ctx context.Context, c *cptest.Cluster, upstreams []string) error {
	nodes := map[string]int{}
	for _, u := range upstreams {
		nodes[u] = 1
	}
	up, _ := json.Marshal(map[string]any{"type": "roundrobin", "nodes": nodes, "name": "demo"})
	first := upstreams[0]
	host, port, _ := net.SplitHostPort(first)
	inline := fmt.Sprintf(`{"uri":"/api/*","methods":["GET","POST"],"name":"api",`+
		`"upstream":{"type":"roundrobin","nodes":[{"host":%q,"port":%s,"weight":1}]}}`, host, port)
	kvs := [][2]string{
		{"/apisix/routes/", "init_dir"},
		{"/apisix/upstreams/", "init_dir"},
		{"/apisix/services/", "init_dir"},
		{"/apisix/upstreams/1", string(up)},
		{"/apisix/routes/1", `{"uri":"/hello","name":"hello","upstream_id":"1"}`},
		{"/apisix/routes/2", inline},
		{"/apisix/routes/3", `{"uri":"/host-only","host":"demo.local","name":"host-only","upstream_id":"1"}`},
	}
	for _, kv := range kvs {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := c.Client().Put(cctx, kv[0], kv[1])
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// startDemoUpstream serves a small JSON answer naming the node and echoing the request, so that the
// demo shows which node served and which headers the proxy added.
func startDemoUpstream(addr, name string) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fwd := map[string]string{}
		for k := range r.Header {
			if strings.HasPrefix(k, "X-") {
				fwd[k] = r.Header.Get(k)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"upstream": name, "method": r.Method, "uri": r.RequestURI, "host": r.Host, "headers": fwd,
		})
	})}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}
