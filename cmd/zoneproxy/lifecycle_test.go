package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

func rewriteConfig(t *testing.T, zp *instance, from, to string) {
	t.Helper()
	b, err := os.ReadFile(zp.configPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), from) {
		t.Fatalf("config has no %q", from)
	}
	if err := os.WriteFile(zp.configPath, []byte(strings.Replace(string(b), from, to, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func logsSince(zp *instance, mark int) string { return zp.logs.String()[mark:] }

// TestReloadOnSIGHUP: a new log level applies live, a broken file changes nothing, a listen port change
// is reported as needing a restart, and a new endpoint order restarts the control-plane client, which
// resumes without losing an update.
func TestReloadOnSIGHUP(t *testing.T) {
	cluster, files := startCluster(t)
	a := backend(t, "a")
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, a))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))
	reload := func(what string) int {
		mark := len(zp.logs.String())
		zp.signals <- syscall.SIGHUP
		testutil.WaitFor(t, what, 10*time.Second, func() bool {
			l := logsSince(zp, mark)
			return strings.Contains(l, "config.yaml reloaded") || strings.Contains(l, "config.yaml reload failed") ||
				strings.Contains(l, "need a restart")
		})
		return mark
	}

	// A broken file: an error naming the key, and nothing changes.
	good, _ := os.ReadFile(zp.configPath)
	rewriteConfig(t, zp, "probe_interval: 100ms", "probe_interval: soon")
	mark := reload("the broken reload")
	if l := logsSince(zp, mark); !strings.Contains(l, "config.yaml reload failed") || !strings.Contains(l, "zoneproxy.probe_interval") {
		t.Errorf("broken reload logged:\n%s", l)
	}
	if code, _ := httpGet(zp.proxy+"/r1", ""); code != 200 {
		t.Errorf("traffic after a broken reload: %d", code)
	}
	if err := os.WriteFile(zp.configPath, good, 0o600); err != nil {
		t.Fatal(err)
	}

	// A new log level: debug and info lines stop.
	rewriteConfig(t, zp, "log: {level: debug}", "log: {level: warn}")
	reload("the log level reload")
	// Lines logged while the reload ran (the state file's writer logs at debug) came before the
	// switch: look only at what comes after it.
	mark = len(zp.logs.String())
	putKV(t, cluster, "/apisix/routes/2", fmt.Sprintf(`{"uri":"/r2","upstream":{"nodes":{%q:1}}}`, a))
	testutil.WaitFor(t, "route 2", 10*time.Second, serves(zp.proxy+"/r2", "", "a GET /r2"))
	if l := logsSince(zp, mark); strings.Contains(l, "configuration applied") || strings.Contains(l, "level=DEBUG") {
		t.Errorf("info and debug lines after reloading with level warn:\n%s", l)
	}

	// A listen port change needs a restart: reported, and the proxy keeps its port.
	rewriteConfig(t, zp, "log: {level: warn}", "log: {level: info}")
	proxyPort := zp.proxy[strings.LastIndex(zp.proxy, ":")+1:]
	rewriteConfig(t, zp, "      port: "+proxyPort+"\n", fmt.Sprintf("      port: %d\n", testutil.FreePorts(t, 1)[0]))
	mark = reload("the port change")
	if l := logsSince(zp, mark); !strings.Contains(l, "need a restart") || !strings.Contains(l, "apisix.node_listen") {
		t.Errorf("port change not reported as needing a restart:\n%s", l)
	}
	if code, _ := httpGet(zp.proxy+"/r1", ""); code != 200 {
		t.Errorf("the proxy left its port on reload: %d", code)
	}

	// A new endpoint order: the client restarts on the new first endpoint and resumes.
	eps := cluster.Endpoints()
	rewriteConfig(t, zp, fmt.Sprintf("      - %q\n      - %q\n", eps[0], eps[1]), fmt.Sprintf("      - %q\n      - %q\n", eps[1], eps[0]))
	reload("the endpoint reload")
	testutil.WaitFor(t, "the new first endpoint in use", 10*time.Second, func() bool {
		return controlPlaneView(t, zp)["control_plane"].(map[string]any)["current_endpoint"] == eps[1]
	})
	putKV(t, cluster, "/apisix/routes/3", fmt.Sprintf(`{"uri":"/r3","upstream":{"nodes":{%q:1}}}`, a))
	testutil.WaitFor(t, "route 3 after the client restart", 10*time.Second, serves(zp.proxy+"/r3", "", "a GET /r3"))
	if n := strings.Count(zp.logs.String(), "listed the control-plane configuration"); n != 1 {
		t.Errorf("%d full lists; the restarted client should have resumed the watch", n)
	}
}

// TestGracefulDrain: on SIGTERM readiness goes 503 at once while the proxy keeps serving for
// drain_delay; then the listener closes and requests in flight finish. No accepted request is cut,
// and no goroutine is left behind.
func TestGracefulDrain(t *testing.T) {
	cluster, files := startCluster(t)
	// The backend answers after 300 ms, so that requests are in flight when the listener closes.
	slowAddr := backendSlow(t, 300*time.Millisecond)
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/slow","upstream":{"nodes":{%q:1}}}`, slowAddr))
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	before := goroutines()
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files, extra: "  drain_delay: 1s\n"})
	testutil.WaitFor(t, "the route", 10*time.Second, serves(zp.proxy+"/slow", "", "slow"))

	var ok, cut, refused atomic.Int64
	var lastCut atomic.Value
	var firstRefused atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(zp.proxy + "/slow")
				switch {
				case err != nil && isRefused(err):
					refused.Add(1)
					firstRefused.CompareAndSwap(0, time.Now().UnixNano())
					time.Sleep(10 * time.Millisecond)
				case err != nil:
					cut.Add(1)
					lastCut.Store(err.Error())
				default:
					resp.Body.Close()
					if resp.StatusCode == 200 {
						ok.Add(1)
					} else {
						cut.Add(1)
						lastCut.Store(resp.Status)
					}
				}
			}
		}()
	}
	testutil.WaitFor(t, "traffic", 10*time.Second, func() bool { return ok.Load() > 4 })

	done := make(chan int, 1)
	go func() { done <- zp.stop() }()
	var notReadyAt time.Time
	testutil.WaitFor(t, "readiness 503", 2*time.Second, func() bool {
		if ready(zp) == 503 {
			notReadyAt = time.Now()
			return true
		}
		return false
	})
	servedBefore := ok.Load()
	testutil.WaitFor(t, "the listener to close", 10*time.Second, func() bool { return firstRefused.Load() != 0 })
	if ok.Load() <= servedBefore {
		t.Errorf("no request served during the drain delay")
	}
	if closedAt := time.Unix(0, firstRefused.Load()); !notReadyAt.Before(closedAt) {
		t.Errorf("readiness went 503 at %v, not before the listener closed at %v", notReadyAt, closedAt)
	}
	if code := <-done; code != 0 {
		t.Errorf("exit code %d", code)
	}
	close(stop)
	wg.Wait()
	if n := cut.Load(); n > 0 {
		t.Errorf("%d requests cut during the drain (last: %v); %d served", n, lastCut.Load(), ok.Load())
	}
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	testutil.WaitFor(t, "the control-plane connections to close", 10*time.Second, func() bool {
		for i := range cluster.Endpoints() {
			if cluster.Endpoint(i).Conns() > 0 {
				return false
			}
		}
		return true
	})
	testutil.WaitForState(t, "no goroutines left after shutdown", 10*time.Second, func() (bool, string) {
		var extra []string
		for sig, n := range goroutines() {
			if n > before[sig] {
				extra = append(extra, fmt.Sprintf("%d x %s", n-before[sig], sig))
			}
		}
		return len(extra) == 0, strings.Join(extra, "\n")
	})
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// backendSlow is an upstream that answers "slow" after d.
func backendSlow(t *testing.T, d time.Duration) string {
	t.Helper()
	return backendFunc(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		fmt.Fprint(w, "slow")
	})
}

// processWide are goroutines that outlive one zoneproxy by design: the embedded etcd of the test,
// fasthttp's process-wide Date updater and DNS cache cleaner, and two fasthttp cleaners that exit at
// their next tick once their pool is empty: the client's idle connection cleaner (the keep-alive idle
// timeout) and the server's idle worker cleaner (MaxIdleWorkerDuration).
//
// gRPC transport goroutines are left out too: the test's etcd runs gRPC clients of its own (its
// gateway, the admin client) whose transports come and go; so are the etcd server's HTTP/2
// connections (cmux, etcd's listener multiplexer: zoneproxy has none), which end at their own pace
// after the client's side closed. zoneproxy's own control-plane connections are checked instead by
// counting the connections the endpoints still hold. The etcd server's raft goroutines (the
// go.etcd.io/raft/v3 module) belong to the test's etcd as well, and so do its FIFO schedulers
// (go.etcd.io/etcd/pkg/v3/schedule, which the server starts for its own jobs as it runs; the
// client has none) and the goroutines of its TLS endpoints (cptest), which end when they notice
// the other side has gone. The member serves its TLS clients, gRPC over HTTP/2, through net/http's
// server: the goroutine of each such connection (net/http's http2serverConn) holds no etcd frame,
// and one its gateway's client opened during the test may still run when the test looks (seen
// under -race with both CPUs busy). zoneproxy serves no HTTP/2 through net/http (its status,
// metrics and Admin API servers are plain HTTP/1.1; its HTTP/2 is proxy/h2), so those goroutines
// are the member's.
var processWide = []string{"go.etcd.io/etcd/server/", "go.etcd.io/raft/", "go.etcd.io/etcd/pkg/v3/schedule.", "zoneproxy/cpclient/cptest.", "fasthttp.updateServerDate", "fasthttp.(*TCPDialer).tcpAddrsClean",
	"fasthttp.(*HostClient).connsCleaner", "fasthttp.(*workerPool).Start", "google.golang.org/grpc/internal/transport.",
	"github.com/soheilhy/cmux.", "net/http.(*http2serverConn)."}

// goroutines counts the running goroutines by their stack (function names only), leaving out the
// process-wide ones and the caller's own.
func goroutines() map[string]int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]int{}
	// The first goroutine is the caller's own.
	for _, g := range strings.Split(string(buf), "\n\n")[1:] {
		var fns []string
		for _, line := range strings.Split(g, "\n")[1:] {
			if !strings.HasPrefix(line, "\t") && line != "" {
				if i := strings.LastIndex(line, "("); i > 0 {
					line = line[:i]
				}
				fns = append(fns, line)
			}
		}
		sig := strings.Join(fns, " < ")
		if !slices.ContainsFunc(processWide, func(p string) bool { return strings.Contains(sig, p) }) {
			out[sig]++
		}
	}
	return out
}

// TestReloadAccessLogAndLimits: SIGHUP turns the access log on, moves it to another file and
// changes the body size limit and the keep-alive timeout on the running proxy without a failed
// request; an access log that cannot open leaves the running one.
func TestReloadAccessLogAndLimits(t *testing.T) {
	cluster, files := startCluster(t)
	putKV(t, cluster, "/apisix/routes/1", fmt.Sprintf(`{"uri":"/r1","upstream":{"nodes":{%q:1}}}`, backend(t, "a")))
	zp := startZoneproxy(t, instanceOpts{endpoints: cluster.Endpoints(), files: files})
	testutil.WaitFor(t, "route 1", 10*time.Second, serves(zp.proxy+"/r1", "", "a GET /r1"))
	dir := t.TempDir()
	reload := func(section string) string {
		t.Helper()
		b, err := os.ReadFile(zp.configPath)
		if err != nil {
			t.Fatal(err)
		}
		if i := strings.Index(string(b), "nginx_config:"); i >= 0 {
			b = b[:i]
		}
		if err := os.WriteFile(zp.configPath, append(b, section...), 0o600); err != nil {
			t.Fatal(err)
		}
		mark := len(zp.logs.String())
		zp.signals <- syscall.SIGHUP
		testutil.WaitFor(t, "the reload", 10*time.Second, func() bool {
			return strings.Contains(logsSince(zp, mark), "config.yaml reload")
		})
		return logsSince(zp, mark)
	}
	post := func(n int) int {
		t.Helper()
		resp, err := http.Post(zp.proxy+"/r1", "text/plain", strings.NewReader(strings.Repeat("b", n)))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	logged := func(file, path string) func() bool {
		return func() bool {
			b, _ := os.ReadFile(filepath.Join(dir, file))
			return strings.Contains(string(b), "GET "+path+" ")
		}
	}

	// POSTs (never retried by the client) run through every reload: none may fail.
	var failed, answered atomic.Int64
	stopLoad := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		client := &http.Client{Timeout: 10 * time.Second}
		for {
			select {
			case <-stopLoad:
				return
			default:
			}
			resp, err := client.Post(zp.proxy+"/r1", "text/plain", strings.NewReader("12345"))
			if err != nil {
				failed.Add(1)
				continue
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			answered.Add(1)
		}
	}()
	defer func() {
		close(stopLoad)
		<-loadDone
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d requests failed across the reloads", n, n+answered.Load())
		}
		if answered.Load() == 0 {
			t.Error("no request was answered during the reloads")
		}
	}()

	l := reload(fmt.Sprintf("nginx_config:\n  http:\n    enable_access_log: true\n    access_log: %s\n    client_max_body_size: 10\n    keepalive_timeout: 30s\n",
		filepath.Join(dir, "one.log")))
	if !strings.Contains(l, "access log") || !strings.Contains(l, "client limits") || !strings.Contains(l, "client timeouts") ||
		strings.Contains(l, "need a restart") || strings.Contains(l, "kept their running values") {
		t.Errorf("reload logged:\n%s", l)
	}
	if code, _ := httpGet(zp.proxy+"/r1?first", ""); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	testutil.WaitFor(t, "the line in one.log", 10*time.Second, logged("one.log", "/r1?first"))
	if code := post(100); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 100-byte body with client_max_body_size 10: %d, want 413", code)
	}

	reload(fmt.Sprintf("nginx_config:\n  http:\n    enable_access_log: true\n    access_log: %s\n    keepalive_timeout: 20s\n",
		filepath.Join(dir, "two.log")))
	if code := post(100); code != 200 {
		t.Errorf("a 100-byte body without a limit: %d, want 200", code)
	}
	if code, _ := httpGet(zp.proxy+"/r1?second", ""); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	testutil.WaitFor(t, "the line in two.log", 10*time.Second, logged("two.log", "/r1?second"))

	l = reload(fmt.Sprintf("nginx_config:\n  http:\n    enable_access_log: true\n    access_log: %s\n",
		filepath.Join(dir, "no/such/dir/three.log")))
	if !strings.Contains(l, "access log settings are not applied") {
		t.Errorf("an unusable access log path was not reported:\n%s", l)
	}
	if code, _ := httpGet(zp.proxy+"/r1?third", ""); code != 200 {
		t.Fatalf("GET: %d", code)
	}
	testutil.WaitFor(t, "the line in two.log", 10*time.Second, logged("two.log", "/r1?third"))
	if logged("one.log", "/r1?second")() || logged("one.log", "/r1?third")() {
		t.Error("lines went on to the replaced access log")
	}
}
