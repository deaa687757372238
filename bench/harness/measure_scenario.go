package harness

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// planned is one target of a scenario: a server, and for the churn target the updates to run beside.
type planned struct {
	name  string
	srv   *server
	churn churnFunc
}

// scenario starts the scenario's servers, warms each up, measures them in turn Options.Runs times and
// stops what it started.
func (h *harness) scenario(ctx context.Context, s Scenario) (ScenarioResult, error) {
	routes := s.Routes()
	if s.redisRoutes != nil && h.o.wants(TargetZoneproxy) {
		port, err := h.startRedis(ctx)
		if errors.Is(err, errNoRedis) {
			h.notes = append(h.notes, fmt.Sprintf("scenario %s skipped: %v", s.Name, err))
			return ScenarioResult{Name: s.Name}, nil
		}
		if err != nil {
			return ScenarioResult{Name: s.Name}, err
		}
		routes = s.redisRoutes(port)
	}
	res := ScenarioResult{Name: s.Name, Desc: s.Desc, Path: s.Path, Headers: s.Headers, Routes: len(routes), Body: s.Body}
	h.log.Info("scenario", "name", s.Name, "routes", len(routes), "desc", s.Desc)
	pr := func(base string) probe {
		return probe{url: base + s.Path, headers: s.Headers, status: 200, bodyLen: s.Body}
	}
	if s.H2 && h.tools.h2load == "" {
		h.notes = append(h.notes, fmt.Sprintf("scenario %s skipped: h2load is not installed", s.Name))
		return res, nil
	}
	var cert *benchCert
	if s.TLS {
		if cert = h.certs[s.Key]; cert == nil {
			c, err := makeCert(h.tmp, s.Key)
			if err != nil {
				return res, err
			}
			if h.certs == nil {
				h.certs = map[string]*benchCert{}
			}
			cert, h.certs[s.Key] = &c, &c
		}
	}
	var plan []planned
	if !s.Churn && !s.TLS && h.direct != nil {
		if err := waitHTTP(ctx, h.direct.proc, pr(h.direct.url), 10*time.Second); err != nil {
			return res, err
		}
		plan = append(plan, planned{name: TargetUpstream, srv: h.direct})
	}
	for _, fw := range []struct{ target, bin string }{{TargetBare, h.bareBin}, {TargetLoop, h.loopBin}} {
		if s.Churn || s.TLS || fw.bin == "" { // the forwarders speak plain HTTP
			continue
		}
		srv, err := h.startForwarder(ctx, s, fw.target, fw.bin)
		if err != nil {
			return res, err
		}
		defer srv.proc.stop(syscall.SIGTERM, 10*time.Second)
		plan = append(plan, planned{name: fw.target, srv: srv})
	}
	if !s.Churn && s.SSLObjects == 0 && h.o.wants(TargetNginx) && h.tools.nginx != "" {
		ng, err := h.startNginx(ctx, s, routes, cert)
		if err != nil {
			// nginx is a peer, not the subject: say so and go on without it.
			h.notes = append(h.notes, fmt.Sprintf("scenario %s: nginx skipped: %v", s.Name, err))
			h.log.Warn("nginx skipped", "scenario", s.Name, "error", err)
		} else {
			defer ng.proc.stop(syscall.SIGTERM, 10*time.Second)
			plan = append(plan, planned{name: TargetNginx, srv: ng})
		}
	}
	if h.o.wants(TargetZoneproxy) {
		prefix := "/zpbench-" + s.Name
		objects := s.Objects()
		if s.TLS {
			objects = maps.Clone(objects)
			if objects == nil {
				objects = map[string]string{}
			}
			objects["/ssls/bench"] = string(cert.SSLJSON())
			for i := 1; i < s.SSLObjects; i++ {
				objects[fmt.Sprintf("/ssls/t%05d", i)] = string(cert.sslJSON(fmt.Sprintf("t%05d.%s", i, benchSNI)))
			}
		}
		if err := h.cp.put(ctx, prefix, h.upAddr, routes, objects); err != nil {
			return res, err
		}
		zp, err := h.startZoneproxy(ctx, s, prefix)
		if err != nil {
			return res, err
		}
		defer zp.proc.stop(syscall.SIGTERM, 15*time.Second)
		plan = append(plan, planned{name: TargetZoneproxy, srv: zp})
		if s.Churn {
			plan = append(plan, planned{name: TargetChurn, srv: zp, churn: func(ctx context.Context) ChurnStats {
				return h.cp.churn(ctx, prefix, h.o.ChurnRate)
			}})
		}
	}
	if len(plan) == 0 {
		h.notes = append(h.notes, fmt.Sprintf("scenario %s: no target to measure", s.Name))
		return res, nil
	}

	load := func(url string, d time.Duration) loader {
		if s.Handshake != "" {
			return tlsloadRun{bin: h.loadBin, pin: h.tools.pin(h.loadCPUs(s)), conns: h.conns(s), duration: d,
				headers: s.Headers, url: url, resume: s.Handshake == HandshakeResumed, nice: h.nice()}
		}
		if s.H2 {
			// A quarter of wrk's connections, each with h2loadStreams streams: 160 requests in
			// flight by default, against wrk's 64.
			return h2loadRun{bin: h.tools.h2load, pin: h.tools.pin(h.loadCPUs(s)), conns: max(1, h.conns(s)/4),
				duration: d, headers: s.Headers, url: url, nice: h.nice()}
		}
		return wrkRun{bin: h.tools.wrk, pin: h.tools.pin(h.loadCPUs(s)), script: h.script, threads: max(h.o.Threads, s.workers()),
			conns: h.conns(s), headers: s.Headers, nice: h.nice(), url: url, duration: d}
	}
	if h.o.Warmup > 0 {
		for _, p := range plan {
			if _, err := load(p.srv.url+s.Path, h.o.Warmup).run(ctx); err != nil {
				return res, fmt.Errorf("%s warm-up: %w", p.name, err)
			}
		}
	}
	if s.Idle > 0 {
		for _, p := range plan {
			ir, err := measureIdle(ctx, p.srv, s.Path, s.Headers, s.Idle)
			if err != nil {
				return res, fmt.Errorf("%s: %d idle connections: %w", p.name, s.Idle, err)
			}
			h.log.Info("idle", "scenario", s.Name, "target", p.name, "conns", ir.Conns, "rss_before_mib", ir.BeforeMiB,
				"rss_after_mib", ir.AfterMiB, "kib_per_conn", ir.KiBPerConn)
			res.Targets = append(res.Targets, TargetResult{Target: p.name, Idle: &ir,
				Summary: Measurement{RSS: ir.AfterMiB}})
		}
		return res, nil
	}
	runs := make([][]Measurement, len(plan))
	for rep := 0; rep < h.o.Runs; rep++ {
		for i, p := range plan {
			var pids []int
			if p.srv.proc != nil {
				pids = p.srv.pids()
			}
			pb, err := startProbe(ctx, h.o.Probe, h.o.ProbeDir, s.Name, p.name, rep+1, pids, p.srv.metricsURL, h.o.Duration)
			if err != nil {
				return res, err
			}
			r, err := measure(ctx, p.srv, load(p.srv.url+s.Path, h.o.Duration), h.serverCPUs(s), p.churn)
			if err != nil {
				return res, fmt.Errorf("%s run %d: %w", p.name, rep+1, err)
			}
			if err := pb.finish(r); err != nil {
				h.notes = append(h.notes, err.Error())
			}
			if r.Churn != nil {
				r.Churn.CatchUpMS = float64(waitApplied(ctx, p.srv.statusURL, r.Churn.LastRevision, 10*time.Second)) / 1e6
				if r.Churn.CatchUpMS < 0 {
					r.Churn.CatchUpMS = -1
				}
			}
			if n := r.Errors.Total(); n > 0 {
				h.notes = append(h.notes, fmt.Sprintf("scenario %s: %s run %d: %d wrk errors %+v", s.Name, p.name, rep+1, n, r.Errors))
			}
			h.log.Info("run", "scenario", s.Name, "target", p.name, "run", rep+1, "rps", int(r.RPS),
				"p50_ms", r.P50, "p99_ms", r.P99, "cpu_percent", int(r.CPUPercent), "rss_mib", r.RSS,
				"other_cpu_percent", int(r.OtherPercent), "errors", r.Errors.Total())
			runs[i] = append(runs[i], r)
		}
	}
	for i, p := range plan {
		res.Targets = append(res.Targets, TargetResult{Target: p.name, Runs: runs[i], Summary: summarize(runs[i])})
	}
	return res, nil
}

func (h *harness) startNginx(ctx context.Context, s Scenario, routes []Route, cert *benchCert) (*server, error) {
	dir := filepath.Join(h.tmp, "nginx-"+s.Name)
	// nginx run as root hands its worker to "nobody", which must reach the temp paths.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(h.tmp, 0o755); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	c := nginxConf{dir: dir, port: port, upstream: h.upAddr, routes: routes, h2: s.H2, workers: s.workers(),
		deferred: h.o.NginxDeferred}
	scheme := "http://"
	if s.TLS {
		c.tls, scheme = cert, "https://"
	}
	if err := os.WriteFile(conf, []byte(c.String()), 0o644); err != nil {
		return nil, err
	}
	argv := append(h.tools.pin(h.serverCPUs(s)), h.tools.nginx, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	p, err := startProcess("nginx", filepath.Join(dir, "stderr.log"), h.nice(), nil, argv)
	if err != nil {
		return nil, err
	}
	srv := &server{target: TargetNginx, proc: p, url: scheme + hostPort(port), tree: true}
	if err := waitHTTP(ctx, p, probe{url: srv.url + s.Path, headers: s.Headers, status: 200, bodyLen: s.Body}, 60*time.Second); err != nil {
		p.stop(syscall.SIGTERM, 5*time.Second)
		return nil, fmt.Errorf("%w (error log: %s)", err, firstLines(readFile(filepath.Join(dir, "error.log")), 5))
	}
	return srv, nil
}

// startForwarder starts a forwarder (the bare one or the event-loop one) on the proxy CPU, in front
// of the backend. It neither routes nor runs plugins: the scenario's request reaches the backend
// whatever its path and headers.
func (h *harness) startForwarder(ctx context.Context, s Scenario, target, bin string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	argv := append(h.tools.pin(h.serverCPUs(s)), bin, "-addr", hostPort(port), "-upstream", h.upAddr)
	name := target + "-" + s.Name
	p, err := startProcess(name, filepath.Join(h.tmp, name+".log"), h.nice(), goEnv(s), argv)
	if err != nil {
		return nil, err
	}
	srv := &server{target: target, proc: p, url: "http://" + hostPort(port)}
	if err := waitHTTP(ctx, p, probe{url: srv.url + s.Path, headers: s.Headers, status: 200, bodyLen: s.Body}, 30*time.Second); err != nil {
		p.stop(syscall.SIGTERM, 5*time.Second)
		return nil, err
	}
	return srv, nil
}

func (h *harness) startZoneproxy(ctx context.Context, s Scenario, prefix string) (*server, error) {
	dir := filepath.Join(h.tmp, "zoneproxy-"+s.Name)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	var ports [4]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	c := zpConf{dataDir: filepath.Join(dir, "data"), port: ports[0], statusPort: ports[1], metricsPort: ports[2],
		endpoint: h.cp.endpoint(), prefix: prefix, ca: h.cp.files.CA, cert: h.cp.files.Cert, key: h.cp.files.Key}
	url := "http://" + hostPort(ports[0])
	if s.TLS {
		c.sslPort, url = ports[3], "https://"+hostPort(ports[3])
	}
	conf := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(conf, []byte(c.String()), 0o644); err != nil {
		return nil, err
	}
	argv := append(h.tools.pin(h.serverCPUs(s)), h.zpBin, "-c", conf)
	p, err := startProcess("zoneproxy", filepath.Join(dir, "zoneproxy.log"), h.nice(), goEnv(s), argv)
	if err != nil {
		return nil, err
	}
	srv := &server{target: TargetZoneproxy, proc: p, url: url, statusURL: "http://" + hostPort(ports[1]),
		metricsURL: "http://" + hostPort(ports[2]) + "/apisix/prometheus/metrics"}
	ready := probe{url: srv.statusURL + "/status/ready", status: 200, bodyLen: -1}
	route := probe{url: srv.url + s.Path, headers: s.Headers, status: 200, bodyLen: s.Body}
	for _, pr := range []probe{ready, route} {
		if err := waitHTTP(ctx, p, pr, 120*time.Second); err != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
			return nil, err
		}
	}
	return srv, nil
}

// serverCPUs is where the servers of s run: ProxyCPU, and LoadCPU too when s has more than one
// worker.
func (h *harness) serverCPUs(s Scenario) string {
	if s.workers() > 1 && h.o.LoadCPU != "" && h.o.LoadCPU != h.o.ProxyCPU {
		return h.o.ProxyCPU + "," + h.o.LoadCPU
	}
	return h.o.ProxyCPU
}

// loadCPUs is where the load of s runs: LoadCPU, or with more than one worker the servers' CPUs,
// which it shares with them.
func (h *harness) loadCPUs(s Scenario) string {
	if s.workers() > 1 {
		return h.serverCPUs(s)
	}
	return h.o.LoadCPU
}

// conns is the load's connection count for s.
func (h *harness) conns(s Scenario) int {
	if s.Conns > 0 {
		return s.Conns
	}
	return h.o.Conns
}

// goEnv is the environment of the Go servers of s: one P per worker.
func goEnv(s Scenario) []string { return []string{"GOMAXPROCS=" + strconv.Itoa(s.workers())} }

func firstLines(s string, n int) string {
	var out []byte
	for i := 0; i < len(s) && n > 0; i++ {
		if s[i] == '\n' {
			n--
		}
		out = append(out, s[i])
	}
	return string(out)
}
