package regionsync

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/config/fingerprint"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
)

// region is one embedded etcd cluster and a target on it.
type region struct {
	name    string
	cluster *cptest.Cluster
	target  *Etcd
}

func startRegions(t testing.TB, names ...string) []*region {
	t.Helper()
	out := make([]*region, len(names))
	for i, n := range names {
		c := cptest.StartT(t, cptest.Options{Endpoints: 1, Members: 1})
		out[i] = &region{name: n, cluster: c, target: newTarget(t, n, c, 0)}
	}
	return out
}

func newTarget(t testing.TB, name string, c *cptest.Cluster, maxOps int) *Etcd {
	t.Helper()
	var urls []string
	for _, u := range c.Endpoints() {
		urls = append(urls, strings.TrimPrefix(u, "https://"))
	}
	tg, err := NewEtcd(name, "etcd+https://"+strings.Join(urls, ","), EtcdOptions{TLS: c.TLSConfig(), MaxTxnOps: maxOps, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tg.Close() })
	return tg
}

func targets(rs []*region) []Target {
	out := make([]Target, len(rs))
	for i, r := range rs {
		out[i] = r.target
	}
	return out
}

// etcdState returns what c holds under /apisix (full keys) and the store revision.
func etcdState(t testing.TB, c *cptest.Cluster) (map[string][]byte, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.Client().Get(ctx, "/apisix/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = kv.Value
	}
	return m, resp.Header.Revision
}

func put(t testing.TB, c *cptest.Cluster, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client().Put(ctx, key, value); err != nil {
		t.Fatal(err)
	}
}

func etcdFingerprint(t testing.TB, c *cptest.Cluster) string {
	m, _ := etcdState(t, c)
	return fingerprint.Of("/apisix", m).String()
}

func load(t testing.TB, files ...string) Objects {
	t.Helper()
	var in []Input
	for i, f := range files {
		in = append(in, Input{Name: fmt.Sprintf("file%d.yaml", i), Data: []byte(f)})
	}
	objs, err := Load(in, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

const sample = `upstreams:
  - id: u1
    type: roundrobin
    nodes: {"127.0.0.1:1980": 1}
    labels: {team: a}
services:
  - id: s1
    upstream_id: u1
    labels: {team: a}
routes:
  - id: r1
    uri: /a
    service_id: s1
    labels: {team: a}
  - id: r2
    uri: /b
    upstream_id: u1
    labels: {team: b}
`
