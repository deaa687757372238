package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/statefile"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// controlPlaneView fetches /status/control-plane.
func controlPlaneView(t *testing.T, zp *instance) map[string]any {
	t.Helper()
	code, body := httpGet(zp.status+"/status/control-plane", "")
	if code != 200 {
		t.Fatalf("/status/control-plane = %d %s", code, body)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func ready(zp *instance) int {
	code, _ := httpGet(zp.status+"/status/ready", "")
	return code
}

// traffic sends requests to url in a loop until stopped and counts the failures.
type traffic struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startTraffic(url, want string) *traffic {
	tr := &traffic{stop: make(chan struct{})}
	tr.wg.Add(1)
	go func() {
		defer tr.wg.Done()
		for {
			select {
			case <-tr.stop:
				return
			default:
			}
			code, body := httpGet(url, "")
			if code == 200 && strings.HasPrefix(body, want) {
				tr.ok.Add(1)
			} else {
				tr.failed.Add(1)
				tr.lastErr.Store(fmt.Sprintf("%d %q", code, body))
			}
		}
	}()
	return tr
}

func (tr *traffic) finish(t *testing.T) {
	t.Helper()
	close(tr.stop)
	tr.wg.Wait()
	if tr.ok.Load() == 0 {
		t.Errorf("no request went through")
	}
	if n := tr.failed.Load(); n > 0 {
		t.Errorf("%d of %d proxied requests failed during the fault (last: %v)", n, n+tr.ok.Load(), tr.lastErr.Load())
	}
}

// TestFailoverUnderTraffic breaks the endpoint in use while requests flow through the proxy: no
// request fails, the next endpoint is used and a route put after the switch is served.
func TestFailoverUnderTraffic(t *testing.T) {
	for _, fault := range []string{"stop", "blackhole"} {
		t.Run(fault, func(t *testing.T) {
			cluster, files := startCluster(t)
			a := backend(t, "a")
			putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
			zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
			testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))
			eps := cluster.Endpoints()
			testutil.WaitFor(t, "the first endpoint in use", 5*time.Second, func() bool {
				return controlPlaneView(t, zp)["control_plane"].(map[string]any)["current_endpoint"] == eps[0]
			})

			tr := startTraffic(zp.proxy+"/r1", "a GET /r1")
			if fault == "stop" {
				cluster.Endpoint(0).Stop()
			} else if err := cluster.Endpoint(0).Blackhole(); err != nil {
				t.Fatal(err)
			}
			testutil.WaitFor(t, "the switch", 10*time.Second, func() bool {
				return controlPlaneView(t, zp)["control_plane"].(map[string]any)["current_endpoint"] == eps[1]
			})
			putKV(t, cluster, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/r2","upstream":{"nodes":{%q:1}}}`, a))
			testutil.WaitFor(t, "a route put after the switch", 10*time.Second, serves(zp.proxy+"/r2", "", "a GET /r2"))
			tr.finish(t)
			if ready(zp) != 200 {
				t.Errorf("not ready after a failover")
			}
		})
	}
}

// TestAllEndpointsDown: traffic keeps flowing on the last configuration and readiness stays 200;
// when an endpoint is back, updates resume.
func TestAllEndpointsDown(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))

	tr := startTraffic(zp.proxy+"/r1", "a GET /r1")
	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	testutil.WaitFor(t, "the proxy to notice", 10*time.Second, func() bool { return controlPlaneView(t, zp)["connected"] == false })
	if ready(zp) != 200 {
		t.Errorf("readiness failed during a control-plane outage; it must stay 200 (static stability)")
	}
	putKV(t, cluster, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/r2","upstream":{"nodes":{%q:1}}}`, a))
	if err := cluster.Endpoint(2).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the update made during the outage", 15*time.Second, serves(zp.proxy+"/r2", "", "a GET /r2"))
	tr.finish(t)
}

func TestReadyRequiresControlPlane(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files,
		extra: "  ready_requires_control_plane: true\n"})
	testutil.WaitFor(t, "readiness", 10*time.Second, func() bool { return ready(zp) == 200 })
	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	testutil.WaitFor(t, "readiness to fail", 10*time.Second, func() bool { return ready(zp) == 503 })
	if code, body := httpGet(zp.proxy+"/r1", ""); code != 200 || !strings.HasPrefix(body, "a GET /r1") {
		t.Errorf("traffic stopped while not ready: %d %q (only readiness should change)", code, body)
	}
	if err := cluster.Endpoint(0).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "readiness again", 10*time.Second, func() bool { return ready(zp) == 200 })
}

// TestRestartFromStateFile: a restart with every endpoint down serves the configuration written to
// disk (ready, source "state_file") and keeps trying; a corrupt file is ignored and said so.
func TestRestartFromStateFile(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	dataDir := filepath.Join(t.TempDir(), "data")
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files, dataDir: dataDir})
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))
	snapFile := filepath.Join(dataDir, statefile.FileName)
	testutil.WaitFor(t, "the state file", 10*time.Second, func() bool {
		st, err := statefile.Read(snapFile, "/apisix")
		return err == nil && st.KVs.Has("/apisix/routes/1")
	})
	// A change after the file was written goes to its journal.
	putKV(t, cluster, "/apisix/routes/3", fmt.Sprintf(`{"uri":"/r3","upstream":{"nodes":{%q:1}}}`, a))
	testutil.WaitFor(t, "route 3", 10*time.Second, serves(zp.proxy+"/r3", "", "a GET /r3"))
	if code := zp.stop(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if st, err := statefile.Read(snapFile, "/apisix"); err != nil || !st.KVs.Has("/apisix/routes/3") {
		t.Fatalf("no usable state file with route 3 after a graceful stop: %v", err)
	}

	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	zp2 := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files, dataDir: dataDir})
	testutil.WaitFor(t, "readiness from the state file", 10*time.Second, func() bool { return ready(zp2) == 200 })
	for _, r := range []string{"/r1", "/r3"} {
		if code, body := httpGet(zp2.proxy+r, ""); code != 200 || !strings.HasPrefix(body, "a GET "+r) {
			t.Errorf("route %s from the state file: %d %q", r, code, body)
		}
	}
	if v := controlPlaneView(t, zp2); v["config_source"] != "state_file" || v["connected"] != false {
		t.Errorf("control-plane view %v, want source state_file and not connected", v)
	}
	// The control plane comes back: updates resume and the source is the control plane again.
	putKV(t, cluster, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/r2","upstream":{"nodes":{%q:1}}}`, a))
	if err := cluster.Endpoint(1).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "updates after the control plane is back", 15*time.Second, serves(zp2.proxy+"/r2", "", "a GET /r2"))
	testutil.WaitFor(t, "source control_plane", 5*time.Second, func() bool {
		return controlPlaneView(t, zp2)["config_source"] == "control_plane"
	})
	zp2.stop()

	// A corrupt file: zoneproxy starts, is not ready, and says why.
	if err := os.WriteFile(snapFile, []byte(`{"format":"zoneproxy-snapshot/1","kvs":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	zp3 := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files, dataDir: dataDir})
	testutil.WaitFor(t, "the log line about the state file", 5*time.Second, func() bool {
		return strings.Contains(zp3.logs.String(), "ignoring the state file") && strings.Contains(zp3.logs.String(), "corrupt")
	})
	if ready(zp3) != 503 {
		t.Errorf("ready with a corrupt state file and no control plane")
	}
}

// TestMetricsEndpoint: the exporter serves APISIX's and zoneproxy's metrics on both paths, with the
// requests made (a global rule with the prometheus plugin counts them all, 404s included), the
// control plane's state and a failover counted.
func TestMetricsEndpoint(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	putKV(t, cluster, "/apisix/global_rules/1", `{"plugins":{"prometheus":{}}}`)
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))
	httpGet(zp.proxy+"/r1", "")
	httpGet(zp.proxy+"/nothing", "")
	eps := cluster.Endpoints()
	cluster.Endpoint(0).Stop()
	testutil.WaitFor(t, "the failover", 10*time.Second, func() bool {
		return controlPlaneView(t, zp)["control_plane"].(map[string]any)["current_endpoint"] == eps[1]
	})
	for _, path := range []string{"/apisix/prometheus/metrics", "/metrics"} {
		code, body := httpGet(zp.metrics+path, "")
		if code != 200 {
			t.Fatalf("%s = %d", path, code)
		}
		for _, want := range []string{
			`apisix_http_status{code="200",consumer="",llm_model="",matched_host="",matched_uri="/r1",node="127.0.0.1",request_llm_model="",request_type="traditional_http",response_source="upstream",route="1",service=""}`,
			`apisix_http_status{code="404"`,
			`apisix_etcd_reachable 1`,
			fmt.Sprintf(`zoneproxy_cp_endpoint_up{endpoint=%q} 0`, eps[0]),
			fmt.Sprintf(`zoneproxy_cp_endpoint_up{endpoint=%q} 1`, eps[1]),
			fmt.Sprintf(`zoneproxy_cp_failovers_total{from=%q,to=%q} 1`, eps[0], eps[1]),
			`zoneproxy_config_revision `,
			`go_goroutines `,
			`process_resident_memory_bytes `,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks %s", path, want)
			}
		}
	}
	// A deleted route's series leave the scrape.
	delKV(t, cluster, "/apisix/routes/1")
	testutil.WaitFor(t, "route 1's series to go", 10*time.Second, func() bool {
		code, body := httpGet(zp.metrics+"/metrics", "")
		return code == 200 && !strings.Contains(body, `route="1"`) && strings.Contains(body, `apisix_http_status{code="404"`)
	})
}
