package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// syncBuffer collects a process's log output for assertions (and copies it to stderr when
// ZONEPROXY_TEST_LOG is set).
type syncBuffer struct{ testutil.Buffer }

func (s *syncBuffer) Write(p []byte) (int, error) {
	if os.Getenv("ZONEPROXY_TEST_LOG") != "" {
		os.Stderr.Write(p)
	}
	return s.Buffer.Write(p)
}

// backend is a real upstream server on loopback that names itself in every answer.
func backend(t testing.TB, name string) string {
	t.Helper()
	return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s %s %s xff=%s", name, r.Method, r.RequestURI, r.Header.Get("X-Forwarded-For"))
	})
}

// backendFunc is a real upstream server on loopback running h.
func backendFunc(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

type instance struct {
	proxy, status string
	https         string // host:port of the HTTPS listener
	metrics       string // base URL of the Prometheus exporter
	dataDir       string
	configPath    string
	logs          *syncBuffer
	signals       chan os.Signal // deliver SIGHUP here
	stop          func() int
	// exited is closed when run returns (on its own, or after stop).
	exited <-chan struct{}
}

type instanceOpts struct {
	endpoints []string
	files     cptest.Files
	dataDir   string
	extra     string // appended to the zoneproxy: section
	// deployment, when set, replaces the deployment: section (its lines indented by two spaces);
	// endpoints and files are then unused.
	deployment string
	// noWait returns without waiting for the status server (an instance expected to exit).
	noWait bool
}

// startZoneproxy runs the whole program in-process on free ports, as `zoneproxy -c file` would.
func startZoneproxy(t testing.TB, o instanceOpts) *instance {
	t.Helper()
	dir := t.TempDir()
	if o.dataDir == "" {
		o.dataDir = filepath.Join(dir, "data")
	}
	ports := testutil.FreePorts(t, 4)
	proxyPort, statusPort, promPort, httpsPort := ports[0], ports[1], ports[2], ports[3]
	var hosts strings.Builder
	for _, ep := range o.endpoints {
		fmt.Fprintf(&hosts, "      - %q\n", ep)
	}
	deployment := fmt.Sprintf(`  role: traditional
  role_traditional: {config_provider: etcd}
  etcd:
    host:
%s    prefix: /apisix
    tls: {cert: %s, key: %s}
`, hosts.String(), o.files.Cert, o.files.Key)
	if o.deployment != "" {
		deployment = o.deployment
	}
	trusted := o.files.CA
	if trusted == "" {
		trusted = "system"
	}
	cfg := fmt.Sprintf(`apisix:
  node_listen:
    - ip: 127.0.0.1
      port: %d
  enable_ipv6: false
  status: {ip: 127.0.0.1, port: %d}
  ssl:
    ssl_trusted_certificate: %s
    listen: [{ip: 127.0.0.1, port: %d}]
deployment:
%splugin_attr:
  prometheus:
    export_addr: {ip: 127.0.0.1, port: %d}
zoneproxy:
  data_dir: %s
  probe_interval: 100ms
  probe_timeout: 500ms
  backoff_min: 100ms
  backoff_max: 500ms
  failback_after: 1s
  drain_delay: 0s
  shutdown_timeout: 5s
  log: {level: debug}
%s`, proxyPort, statusPort, trusted, httpsPort, deployment, promPort, o.dataDir, o.extra)
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	exited := make(chan struct{})
	inst := &instance{
		proxy:      fmt.Sprintf("http://127.0.0.1:%d", proxyPort),
		https:      fmt.Sprintf("127.0.0.1:%d", httpsPort),
		metrics:    fmt.Sprintf("http://127.0.0.1:%d", promPort),
		status:     fmt.Sprintf("http://127.0.0.1:%d", statusPort),
		dataDir:    o.dataDir,
		configPath: path,
		logs:       logs,
		signals:    make(chan os.Signal, 1),
		exited:     exited,
	}
	code := -1
	go func() { code = run(ctx, []string{"-c", path}, io.Discard, logs, inst.signals); close(exited) }()
	var once sync.Once
	inst.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				t.Errorf("zoneproxy did not stop")
			}
		})
		select {
		case <-exited:
			return code
		default:
			return -1
		}
	}
	t.Cleanup(func() { inst.stop() })
	if o.noWait {
		return inst
	}
	testutil.WaitFor(t, "the status server", 10*time.Second, func() bool {
		code, _ := httpGet(inst.status+"/status", "")
		return code == 200
	})
	return inst
}

func httpGet(url, host string) (int, string) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	if host != "" {
		req.Host = host
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func putKV(t testing.TB, c *cptest.Cluster, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client().Put(ctx, key, value); err != nil {
		t.Fatal(err)
	}
}

func delKV(t testing.TB, c *cptest.Cluster, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Client().Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
}

func startCluster(t testing.TB) (*cptest.Cluster, cptest.Files) {
	t.Helper()
	cluster := cptest.StartT(t, cptest.Options{Endpoints: 3, Members: 1})
	files, err := cluster.WriteFiles(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return cluster, files
}

func serves(url, host, want string) func() bool {
	return func() bool {
		code, body := httpGet(url, host)
		return code == 200 && strings.HasPrefix(body, want)
	}
}

const notFoundBody = `{"error_msg":"404 Route Not Found"}` + "\n"

// TestRouteLifecycle: a route put into etcd is served, updated to a new upstream, deleted to 404.
func TestRouteLifecycle(t *testing.T) {
	cluster, files := startCluster(t)
	a, b := backend(t, "a"), backend(t, "b")
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "readiness", 10*time.Second, func() bool { c, _ := httpGet(zp.status+"/status/ready", ""); return c == 200 })

	putKV(t, cluster, "/apisix/upstreams/1", fmt.Sprintf(`{"type":"roundrobin","nodes":{%q:1}}`, a))
	putKV(t, cluster, "/apisix/routes/1", `{"uri":"/hello","upstream_id":"1"}`)
	testutil.WaitFor(t, "the new route", 10*time.Second, serves(zp.proxy+"/hello?x=1", "", "a GET /hello?x=1"))
	_, body := httpGet(zp.proxy+"/hello", "")
	if !strings.Contains(body, "xff=127.0.0.1") {
		t.Errorf("upstream saw %q, want X-Forwarded-For 127.0.0.1", body)
	}

	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/hello","upstream":{"nodes":{%q:1}}}`, b))
	testutil.WaitFor(t, "the updated route", 10*time.Second, serves(zp.proxy+"/hello", "", "b GET /hello"))

	delKV(t, cluster, "/apisix/routes/1")
	testutil.WaitFor(t, "the deleted route", 10*time.Second, func() bool {
		code, body := httpGet(zp.proxy+"/hello", "")
		return code == 404 && body == notFoundBody
	})
	if code := zp.stop(); code != 0 {
		t.Errorf("exit code %d after a graceful stop", code)
	}
}

// TestBadObjectsAreSkipped: values that are not JSON objects, malformed JSON and a route with an
// unknown field are logged and skipped; every other route still serves.
func TestBadObjectsAreSkipped(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	up := fmt.Sprintf(`{"nodes":{%q:1}}`, a)
	putKV(t, cluster, "/apisix/routes/", "init_dir")
	putKV(t, cluster, "/apisix/routes/bad-json", `{"uri":"/bad-json",`)
	putKV(t, cluster, "/apisix/routes/unknown-field", fmt.Sprintf(`{"uri":"/unknown","upstream":%s,"colour":"red"}`, up))
	putKV(t, cluster, "/apisix/routes/not-object", `[1,2,3]`)
	putKV(t, cluster, "/apisix/routes/good", fmt.Sprintf(`{"uri":"/good","upstream":%s}`, up))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "the good route", 10*time.Second, serves(zp.proxy+"/good", "", "a GET /good"))
	for _, p := range []string{"/bad-json", "/unknown"} {
		if code, body := httpGet(zp.proxy+p, ""); code != 404 || body != notFoundBody {
			t.Errorf("%s = %d %q, want 404", p, code, body)
		}
	}
	logs := zp.logs.String()
	for _, want := range []string{
		`key=/apisix/routes/bad-json`,
		`key=/apisix/routes/unknown-field revision=`,
		`reason="colour: unknown field"`,
		`key=/apisix/routes/not-object`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if strings.Contains(logs, "/apisix/routes/ ") || strings.Contains(logs, `key=/apisix/routes/ `) {
		t.Errorf("the init_dir placeholder was logged as rejected")
	}

	// A bad update to a good route keeps the good version serving.
	putKV(t, cluster, "/apisix/routes/good", `{"uri":"/good","upstream":{"nodes":{"127.0.0.1:1":-5}}}`)
	putKV(t, cluster, "/apisix/routes/other", fmt.Sprintf(`{"uri":"/other","upstream":%s}`, up))
	testutil.WaitFor(t, "a later route", 10*time.Second, serves(zp.proxy+"/other", "", "a GET /other"))
	if code, body := httpGet(zp.proxy+"/good", ""); code != 200 || !strings.HasPrefix(body, "a GET /good") {
		t.Errorf("/good after a bad update = %d %q, want the previous version serving", code, body)
	}
	if !strings.Contains(zp.logs.String(), "kept_previous_version=true") {
		t.Errorf("the rejected update was not logged as keeping the previous version")
	}
}

// TestReadiness: /status is 200 always; /status/ready is 503 until the first configuration is
// loaded and 200 after.
func TestReadiness(t *testing.T) {
	cluster, files := startCluster(t)
	for i := range cluster.Endpoints() {
		cluster.Endpoint(i).Stop()
	}
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	for i := 0; i < 5; i++ {
		if code, body := httpGet(zp.status+"/status/ready", ""); code != 503 || !strings.Contains(body, `"status":"error"`) {
			t.Fatalf("/status/ready with no configuration = %d %s, want 503", code, body)
		}
		if code, _ := httpGet(zp.status+"/status", ""); code != 200 {
			t.Fatalf("/status = %d, want 200", code)
		}
		time.Sleep(50 * time.Millisecond) // sample readiness over a little while: it must stay 503
	}
	if code, body := httpGet(zp.proxy+"/anything", ""); code != 503 {
		t.Errorf("proxy before any configuration = %d %q, want 503", code, body)
	}
	if err := cluster.Endpoint(1).Restore(); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "readiness", 15*time.Second, func() bool { c, _ := httpGet(zp.status+"/status/ready", ""); return c == 200 })
}

// TestConfigErrors: each impossible config.yaml value stops startup with a message naming the key,
// before any port is opened; -t checks a file; -v prints the version.
func TestConfigErrors(t *testing.T) {
	base := func(listen, hosts, tls string) string {
		return fmt.Sprintf("apisix:\n  node_listen: %s\ndeployment:\n  etcd:\n    host: %s\n%s", listen, hosts, tls)
	}
	tests := []struct {
		name, file, wantKey string
	}{
		{"port 0", base("0", `["http://127.0.0.1:2379"]`, ""), "apisix.node_listen"},
		{"empty host list", base("9080", `[]`, ""), "deployment.etcd.host"},
		{"host not a URL", base("9080", `["127.0.0.1 2379"]`, ""), "deployment.etcd.host[0]"},
		{"cert without key", base("9080", `["https://127.0.0.1:2379"]`, "    tls:\n      cert: /x.crt\n"), "deployment.etcd.tls"},
		{"wrong type", base("9080", `["http://127.0.0.1:2379"]`, "    timeout: soon\n"), "deployment.etcd.timeout"},
		{"not YAML", "apisix: [", "invalid YAML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"-c", path}, {"-t", "-c", path}} {
				var stdout, stderr bytes.Buffer
				code := run(context.Background(), args, &stdout, &stderr, nil)
				if code != 1 || !strings.Contains(stderr.String(), tt.wantKey) {
					t.Errorf("%v: exit %d, stderr %q; want 1 and a message naming %s", args, code, stderr.String(), tt.wantKey)
				}
			}
		})
	}
	t.Run("valid file", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), []string{"-t", "-c", "../../config.yaml"}, &stdout, &stderr, nil); code != 0 ||
			!strings.Contains(stdout.String(), "test is successful") {
			t.Errorf("-t on the shipped config.yaml: exit %d, %q %q", code, stdout.String(), stderr.String())
		}
	})
	t.Run("plugins list", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "config.yaml")
		file := "deployment:\n  etcd:\n    host: [\"http://127.0.0.1:2379\"]\nplugins:\n  - key-auth\n  - no-such-plugin\n  - openid-connect\n"
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"-t", "-c", path}, &stdout, &stderr, nil)
		out := stdout.String() + stderr.String()
		if code != 0 {
			t.Fatalf("-t with unimplemented plugins: exit %d, %q; want 0 (warnings only)", code, out)
		}
		for _, want := range []string{`"no-such-plugin" is not an APISIX plugin`, "does not implement openid-connect:", // and only it: key-auth is implemented
			"objects that use them are rejected"} {
			if !strings.Contains(out, want) {
				t.Errorf("-t output %q lacks %q", out, want)
			}
		}
	})
	t.Run("version", func(t *testing.T) {
		var stdout bytes.Buffer
		if code := run(context.Background(), []string{"-v"}, &stdout, io.Discard, nil); code != 0 ||
			!strings.HasPrefix(stdout.String(), "zoneproxy ") {
			t.Errorf("-v: exit %d, %q", code, stdout.String())
		}
	})
}
