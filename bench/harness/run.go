package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// harness is the state of one Run.
type harness struct {
	o       Options
	log     *slog.Logger
	tools   tools
	tmp     string
	zpBin   string
	upBin   string
	bareBin string
	loopBin string
	loadBin string // tlsload, for the handshake scenarios
	script  string
	cp      *controlPlane
	backend *process // the upstream both proxies forward to, on the load CPU
	upAddr  string   // its address
	direct  *server  // the upstream measured directly, on the proxy CPU
	notes   []string
	niced   bool
	certs   map[string]*benchCert // the TLS scenarios' certificates by key type, each made at its first
	// redis is the redis-server of the scenarios with a Redis policy, started at the first.
	redis     *process
	redisPort int
}

// Run measures every scenario of o and returns the report, also when some scenario failed (the error
// then says which). It stops everything it started before returning.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	t, notes, err := findTools()
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "zpbench-")
	if err != nil {
		return nil, err
	}
	h := &harness{o: o, log: o.Log, tools: t, tmp: tmp, notes: notes}
	rep := &Report{Started: time.Now().UTC(), Env: readEnv(ctx, o.Root, t), Settings: Settings{
		Duration: o.Duration.String(), Warmup: o.Warmup.String(), Runs: o.Runs, Conns: o.Conns, Threads: o.Threads,
		ChurnRate: o.ChurnRate, ProxyCPU: o.ProxyCPU, LoadCPU: o.LoadCPU, Pinned: t.taskset != "", Targets: o.Targets,
		NginxDeferred: o.NginxDeferred,
	}}
	runErr := h.run(ctx, rep)
	if h.niced {
		rep.Settings.Nice = h.o.Nice
	}
	h.stop()
	rep.Finished = time.Now().UTC()
	rep.Env.LoadAvgEnd = loadAvg()
	comparePlain(rep.Scenarios)
	rep.Verdicts = verdicts(rep.Scenarios)
	rep.Notes = h.notes
	if runErr != nil {
		h.log.Error("bench failed; logs kept", "dir", tmp, "error", runErr)
		return rep, runErr
	}
	if o.Keep {
		h.log.Info("run directory kept", "dir", tmp)
		return rep, nil
	}
	_ = os.RemoveAll(tmp)
	return rep, nil
}

func (h *harness) run(ctx context.Context, rep *Report) error {
	if err := h.build(ctx); err != nil {
		return err
	}
	if err := h.pinSelf(ctx); err != nil {
		return err
	}
	h.renice()
	h.script = filepath.Join(h.tmp, "wrk.lua")
	if err := os.WriteFile(h.script, wrkScript, 0o644); err != nil {
		return err
	}
	if err := h.startUpstreams(ctx); err != nil {
		return err
	}
	if h.o.wants(TargetZoneproxy) {
		h.log.Info("starting the control plane")
		cp, err := startControlPlane(ctx, h.tmp, h.log)
		if err != nil {
			return err
		}
		h.cp = cp
	}
	var errs []error
	for _, name := range h.o.Scenarios {
		s, _ := scenarioByName(name)
		res, err := h.scenario(ctx, s)
		if err != nil {
			errs = append(errs, fmt.Errorf("scenario %s: %w", name, err))
			h.notes = append(h.notes, fmt.Sprintf("scenario %s failed: %v", name, err))
			if ctx.Err() != nil {
				break
			}
		}
		if len(res.Targets) > 0 {
			res.compare()
			rep.Scenarios = append(rep.Scenarios, res)
		}
	}
	return errors.Join(errs...)
}

// build compiles zoneproxy (unless Options.Zoneproxy names a binary) and the upstream into the run's
// directory, so that a concurrent `make build` cannot swap a binary between scenarios.
func (h *harness) build(ctx context.Context) error {
	bin := filepath.Join(h.tmp, "bin")
	h.upBin = filepath.Join(bin, "benchupstream")
	h.zpBin = h.o.Zoneproxy
	type target struct{ out, pkg, ldflags string }
	h.loadBin = filepath.Join(bin, "tlsload")
	builds := []target{{h.upBin, "./bench/cmd/benchupstream", "-s -w"}, {h.loadBin, "./bench/cmd/tlsload", "-s -w"}}
	if h.o.wants(TargetBare) {
		h.bareBin = filepath.Join(bin, "bareproxy")
		builds = append(builds, target{h.bareBin, "./bench/cmd/bareproxy", "-s -w"})
	}
	if h.o.wants(TargetLoop) {
		h.loopBin = filepath.Join(bin, "loopproxy")
		builds = append(builds, target{h.loopBin, "./bench/cmd/loopproxy", "-s -w"})
	}
	if h.zpBin == "" && h.o.wants(TargetZoneproxy) {
		h.zpBin = filepath.Join(bin, "zoneproxy")
		builds = append(builds, target{h.zpBin, "./cmd/zoneproxy", "-s -w -X main.version=" + firstLine(output(ctx, h.o.Root, "git", "describe", "--always", "--dirty"))})
	}
	for _, b := range builds {
		h.log.Info("go build", "package", b.pkg)
		// As the release image builds it (Dockerfile): static, stripped, unless symbols are asked for.
		ldflags := b.ldflags
		if h.o.Symbols {
			ldflags = strings.TrimSpace(strings.TrimPrefix(ldflags, "-s -w"))
		}
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", ldflags, "-o", b.out, b.pkg)
		cmd.Dir = h.o.Root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w: %s", b.pkg, err, out)
		}
	}
	return nil
}

// pinSelf moves every thread of the harness (and so the in-process control plane and every command it
// starts unpinned) to the load CPU.
func (h *harness) pinSelf(ctx context.Context) error {
	if h.tools.taskset == "" {
		return nil
	}
	out, err := exec.CommandContext(ctx, h.tools.taskset, "-a", "-p", "-c", h.o.LoadCPU, strconv.Itoa(os.Getpid())).CombinedOutput()
	if err != nil {
		return fmt.Errorf("taskset: pin the harness to CPU %s: %w: %s", h.o.LoadCPU, err, out)
	}
	return nil
}

// renice sets Options.Nice on every thread of the harness; threads created later, and the processes
// they start, inherit it.
func (h *harness) renice() {
	if h.o.Nice == 0 {
		return
	}
	tasks, err := os.ReadDir("/proc/self/task")
	if err == nil {
		for _, t := range tasks {
			tid, convErr := strconv.Atoi(t.Name())
			if convErr != nil {
				continue
			}
			if err = syscall.Setpriority(syscall.PRIO_PROCESS, tid, h.o.Nice); err != nil {
				break
			}
		}
	}
	if err != nil {
		h.notes = append(h.notes, fmt.Sprintf("nice %d not applied (%v): measured at the usual priority", h.o.Nice, err))
		h.niced = false
		return
	}
	h.niced = true
}

// nice is the priority children get: Options.Nice if the harness could take it itself.
func (h *harness) nice() int {
	if h.niced {
		return h.o.Nice
	}
	return 0
}

func (h *harness) startUpstreams(ctx context.Context) error {
	start := func(name, cpu string) (*process, string, error) {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		addr := hostPort(port)
		argv := append(h.tools.pin(cpu), h.upBin, "-addr", addr)
		p, err := startProcess(name, filepath.Join(h.tmp, name+".log"), h.nice(), []string{"GOMAXPROCS=1"}, argv)
		if err != nil {
			return nil, "", err
		}
		if err := waitHTTP(ctx, p, probe{url: "http://" + addr + "/", status: 200, bodyLen: 100}, 30*time.Second); err != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
			return nil, "", err
		}
		return p, addr, nil
	}
	p, addr, err := start("upstream-backend", h.o.LoadCPU)
	if err != nil {
		return err
	}
	h.backend, h.upAddr = p, addr
	h.log.Info("backend upstream", "addr", addr, "cpu", h.o.LoadCPU)
	if h.o.wants(TargetUpstream) {
		p, addr, err := start("upstream-direct", h.o.ProxyCPU)
		if err != nil {
			return err
		}
		h.direct = &server{target: TargetUpstream, proc: p, url: "http://" + addr}
		h.log.Info("direct upstream", "addr", addr, "cpu", h.o.ProxyCPU)
	}
	return nil
}

func (h *harness) stop() {
	if h.redis != nil {
		h.redis.stop(syscall.SIGTERM, 5*time.Second)
	}
	if h.direct != nil {
		h.direct.proc.stop(syscall.SIGTERM, 5*time.Second)
	}
	if h.backend != nil {
		h.backend.stop(syscall.SIGTERM, 5*time.Second)
	}
	if h.cp != nil {
		h.cp.close()
	}
}
