package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/fingerprint"
	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// etcdFingerprint computes the fingerprint of what cluster holds under /apisix, as `zoneproxy
// sync` does.
func etcdFingerprint(t *testing.T, c *cptest.Cluster) string {
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
	return fingerprint.Of("/apisix", m).String()
}

func readyCode(zp *instance, query string) (int, string) {
	return httpGet(zp.status+"/status/ready"+query, "")
}

// TestGSLBReadiness: the fingerprint of the configuration served is in /status/control-plane and
// the metrics, equals the one computed from etcd, follows changes; /status/ready?fingerprint= and
// ?max_config_age= fail a region serving another configuration or one the control plane stopped
// confirming, while plain readiness stays up (static stability).
func TestGSLBReadiness(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))

	want := etcdFingerprint(t, cluster)
	testutil.WaitForState(t, "the fingerprint of etcd's objects", 10*time.Second, func() (bool, string) {
		got, _ := controlPlaneView(t, zp)["config_fingerprint"].(string)
		return got == want, got
	})
	if code, body := readyCode(zp, "?fingerprint="+want+"&max_config_age=30s"); code != 200 {
		t.Errorf("ready with the expected fingerprint = %d %s", code, body)
	}
	_, metrics := httpGet(zp.metrics+"/apisix/prometheus/metrics", "")
	if line := fmt.Sprintf(`zoneproxy_config_fingerprint_info{fingerprint=%q} 1`, want); !strings.Contains(metrics, line) {
		t.Errorf("metrics lack %s", line)
	}

	// A change: the old fingerprint no longer passes, the new one does.
	putKV(t, cluster, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/r2","upstream":{"nodes":{%q:1}}}`, a))
	next := etcdFingerprint(t, cluster)
	testutil.WaitFor(t, "the new fingerprint", 10*time.Second, func() bool { c, _ := readyCode(zp, "?fingerprint="+next); return c == 200 })
	if code, body := readyCode(zp, "?fingerprint="+want); code != 503 || !strings.Contains(body, "is not the expected") {
		t.Errorf("ready with the previous fingerprint = %d %s, want 503", code, body)
	}
	_, metrics = httpGet(zp.metrics+"/apisix/prometheus/metrics", "")
	if strings.Contains(metrics, want) || !strings.Contains(metrics, next) {
		t.Errorf("the metric kept the old fingerprint or lacks the new one")
	}
	if code, _ := readyCode(zp, "?max_config_age=later"); code != 400 {
		t.Errorf("a malformed max_config_age = %d, want 400", code)
	}

	// The control plane goes away: plain readiness stays, the age bound fails once exceeded.
	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	testutil.WaitFor(t, "the proxy to notice", 10*time.Second, func() bool { return controlPlaneView(t, zp)["connected"] == false })
	testutil.WaitForState(t, "max_config_age=1s to fail", 10*time.Second, func() (bool, string) {
		c, body := readyCode(zp, "?max_config_age=1s")
		return c == 503 && strings.Contains(body, "last confirmed by a control plane"), body
	})
	if code, body := readyCode(zp, ""); code != 200 {
		t.Errorf("plain readiness during the outage = %d %s, want 200", code, body)
	}
	if code, body := readyCode(zp, "?max_config_age=1h"); code != 200 {
		t.Errorf("ready with a generous age bound = %d %s, want 200", code, body)
	}
	if err := cluster.Endpoint(0).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "max_config_age=1s to pass again", 15*time.Second, func() bool { c, _ := readyCode(zp, "?max_config_age=1s"); return c == 200 })
}
