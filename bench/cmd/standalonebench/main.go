// Command standalonebench measures zoneproxy's file-driven standalone mode with a large
// apisix.yaml: the time from start to the last route served and the decode + build + swap time
// zoneproxy logs for it, the peak RSS (VmHWM), and the time from a changed file (renamed into
// place) to its new route served, over a number of changes.
//
//	go run ./bench/cmd/standalonebench -routes 10000 -changes 50 [-format json] [-watch poll] [-etcd]
//
// -etcd serves the same routes from an etcd control plane (cptest, in this process) instead, for
// comparison.
//
// It builds zoneproxy from the working tree (or runs -zoneproxy), on loopback, with a net/http
// upstream in this process. Linux only (/proc).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/zoneproxy/zoneproxy/cpclient/cptest"
)

func main() {
	routes := flag.Int("routes", 10_000, "routes in apisix.yaml")
	changes := flag.Int("changes", 50, "file changes to time")
	bin := flag.String("zoneproxy", "", "zoneproxy binary (default: go build ./cmd/zoneproxy)")
	format := flag.String("format", "yaml", "yaml (apisix.yaml) or json (apisix.json)")
	etcd := flag.Bool("etcd", false, "the same routes from an etcd control plane instead (for comparison)")
	watch := flag.String("watch", "inotify", "zoneproxy.standalone_watch: inotify, or poll (the 1 s check alone, as APISIX)")
	flag.Parse()
	log.SetFlags(0)
	dir, err := os.MkdirTemp("", "standalonebench")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if *bin == "" {
		*bin = filepath.Join(dir, "zoneproxy")
		if out, err := exec.Command("go", "build", "-o", *bin, "./cmd/zoneproxy").CombinedOutput(); err != nil {
			log.Fatalf("go build: %v\n%s", err, out)
		}
	}
	upstream := serveUpstream()
	ports := freePorts(3)
	if *format != "yaml" && *format != "json" {
		log.Fatalf("-format %q: yaml or json", *format)
	}
	gen := config
	if *format == "json" {
		gen = configJSON
	}
	file := filepath.Join(dir, "apisix."+*format)
	write(file, gen(*routes, upstream, -1))
	deployment := fmt.Sprintf("  role: data_plane\n  role_data_plane: {config_provider: %s}\n", *format)
	trusted := "system"
	var cp *controlPlane
	if *etcd {
		cp = startControlPlane(dir, *routes, upstream)
		defer cp.cluster.Close()
		deployment = fmt.Sprintf("  role: traditional\n  etcd:\n    host: [%q]\n    tls: {cert: %s, key: %s}\n",
			cp.cluster.Endpoints()[0], cp.files.Cert, cp.files.Key)
		trusted = cp.files.CA
	}
	cfg := fmt.Sprintf(`apisix:
  node_listen: [{ip: 127.0.0.1, port: %d}]
  enable_ipv6: false
  status: {ip: 127.0.0.1, port: %d}
  ssl: {enable: false, ssl_trusted_certificate: %s}
deployment:
%splugin_attr:
  prometheus: {export_addr: {ip: 127.0.0.1, port: %d}}
zoneproxy:
  data_dir: %s
  standalone_watch: %s
  log: {level: info}
`, ports[0], ports[1], trusted, deployment, ports[2], filepath.Join(dir, "data"), *watch)
	write(filepath.Join(dir, "config.yaml"), cfg)

	cmd := exec.Command(*bin, "-c", filepath.Join(dir, "config.yaml"))
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// The line each new configuration logs: with its decode and total time from a file, with
	// its build time from etcd.
	applied := "config file reloaded"
	if *etcd {
		applied = "configuration applied"
	}
	reloads := make(chan string, 1000)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if strings.Contains(sc.Text(), applied) {
				reloads <- sc.Text()
			}
		}
	}()
	proxy := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	last := fmt.Sprintf("%s/api/v1/r%d/x", proxy, *routes-1)
	waitServed(last, 120*time.Second)
	startup := time.Since(start)
	line := <-reloads
	if *etcd {
		fmt.Printf("routes: %d, from etcd\n", *routes)
	} else {
		fmt.Printf("routes: %d, file %s\n", *routes, size(file))
	}
	fmt.Printf("start to last route served: %v\n", startup.Round(time.Millisecond))
	fmt.Printf("first load (zoneproxy's log): decode=%s total=%s build=%s\n", field(line, "decode"), field(line, "total"), field(line, "build"))
	fmt.Printf("after load: %s\n", mem(cmd.Process.Pid))

	var took, totals, outside []time.Duration
	var lines []string
	for i := 0; i < *changes; i++ {
		var t0 time.Time
		if cp != nil {
			cp.put(map[string]string{"/apisix/routes/00000": routeJSON(fmt.Sprintf("/changed/%d", i))})
			t0 = time.Now() // the put's round trip is not zoneproxy's
		} else {
			tmp := file + ".tmp"
			write(tmp, gen(*routes, upstream, i))
			t0 = time.Now()
			if err := os.Rename(tmp, file); err != nil {
				log.Fatal(err)
			}
		}
		waitServed(fmt.Sprintf("%s/changed/%d", proxy, i), 30*time.Second)
		d := time.Since(t0)
		took = append(took, d)
		l := <-reloads
		// zoneproxy's own time for the reload: from the file read to the Snapshot swapped (file),
		// the build (etcd). The rest is the wake-up (inotify, the poll, the watch) and this
		// program's request that sees the route.
		own, err := time.ParseDuration(field(l, "total"))
		if *etcd {
			own, err = time.ParseDuration(field(l, "build"))
		}
		if err == nil {
			totals, outside = append(totals, own), append(outside, d-own)
		}
		if len(lines) < 3 {
			lines = append(lines, l)
		}
	}
	if len(took) > 0 {
		fmt.Printf("changed config to new route served (%d changes): %s\n", len(took), percentiles(took))
		fmt.Printf("  zoneproxy's reload (its log's total, or build from etcd): %s\n", percentiles(totals))
		fmt.Printf("  the rest (wake-up, this program's request): %s\n", percentiles(outside))
		for _, l := range lines {
			fmt.Printf("  %s\n", l)
		}
	}
	fmt.Printf("at the end: %s\n", mem(cmd.Process.Pid))
	// zoneproxy hands free memory back once the configuration has been quiet for a second.
	time.Sleep(3 * time.Second)
	fmt.Printf("settled 3 s later: %s\n", mem(cmd.Process.Pid))
}

// config is an apisix.yaml of n routes; with changed >= 0 route 0 serves /changed/<changed>.
func config(n int, upstream string, changed int) string {
	var b strings.Builder
	b.WriteString("upstreams:\n  - id: u1\n    type: roundrobin\n    nodes:\n      \"" + upstream + "\": 1\nroutes:\n")
	for i := 0; i < n; i++ {
		uri := fmt.Sprintf("/api/v1/r%d/*", i)
		if i == 0 && changed >= 0 {
			uri = fmt.Sprintf("/changed/%d", changed)
		}
		fmt.Fprintf(&b, "  - id: \"%05d\"\n    uri: %s\n    methods: [GET]\n    upstream_id: u1\n", i, uri)
	}
	b.WriteString("#END\n")
	return b.String()
}

// configJSON is config as apisix.json.
func configJSON(n int, upstream string, changed int) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"upstreams":[{"id":"u1","type":"roundrobin","nodes":{%q:1}}],"routes":[`, upstream)
	for i := 0; i < n; i++ {
		uri := fmt.Sprintf("/api/v1/r%d/*", i)
		if i == 0 && changed >= 0 {
			uri = fmt.Sprintf("/changed/%d", changed)
		}
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%05d","uri":%q,"methods":["GET"],"upstream_id":"u1"}`, i, uri)
	}
	b.WriteString("]}")
	return b.String()
}

func serveUpstream() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	}()
	return ln.Addr().String()
}

func freePorts(n int) []int {
	var out []int
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

func write(path, s string) {
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		log.Fatal(err)
	}
}

func waitServed(url string, limit time.Duration) {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if resp, err := client.Get(url); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	log.Fatalf("%s not served after %v", url, limit)
}

// percentiles are the p50, p99 and max of ds (sorted in place).
func percentiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	slices.Sort(ds)
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("p50 %v p99 %v max %v", r(ds[len(ds)/2]), r(ds[len(ds)*99/100]), r(ds[len(ds)-1]))
}

var fieldRE = map[string]*regexp.Regexp{}

func field(line, name string) string {
	re, ok := fieldRE[name]
	if !ok {
		re = regexp.MustCompile(`\b` + name + `=(\S+)`)
		fieldRE[name] = re
	}
	if m := re.FindStringSubmatch(line); m != nil {
		return m[1]
	}
	return "?"
}

func size(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB", float64(info.Size())/(1<<20))
}

// mem reads VmRSS and VmHWM (peak RSS) of pid.
func mem(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", ")
}

// controlPlane is the etcd of -etcd: a cptest cluster in this process.
type controlPlane struct {
	cluster *cptest.Cluster
	files   cptest.Files
}

func startControlPlane(dir string, routes int, upstream string) *controlPlane {
	c, err := cptest.Start(context.Background(), cptest.Options{Endpoints: 1, Members: 1, Dir: filepath.Join(dir, "etcd"),
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		log.Fatal(err)
	}
	files, err := c.WriteFiles(certs)
	if err != nil {
		log.Fatal(err)
	}
	cp := &controlPlane{cluster: c, files: files}
	kvs := map[string]string{"/apisix/upstreams/u1": fmt.Sprintf(`{"type":"roundrobin","nodes":{%q:1}}`, upstream)}
	for i := 0; i < routes; i++ {
		kvs[fmt.Sprintf("/apisix/routes/%05d", i)] = routeJSON(fmt.Sprintf("/api/v1/r%d/*", i))
	}
	cp.put(kvs)
	return cp
}

func routeJSON(uri string) string {
	return fmt.Sprintf(`{"uri":%q,"methods":["GET"],"upstream_id":"u1"}`, uri)
}

// put writes kvs, 100 per transaction.
func (cp *controlPlane) put(kvs map[string]string) {
	ops := make([]clientv3.Op, 0, len(kvs))
	for k, v := range kvs {
		ops = append(ops, clientv3.OpPut(k, v))
	}
	for len(ops) > 0 {
		n := min(len(ops), 100)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cp.cluster.Client().Txn(ctx).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			log.Fatal(err)
		}
		ops = ops[n:]
	}
}
