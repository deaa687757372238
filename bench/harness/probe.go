package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// probeRun is Options.Probe started beside one measured run: a command that observes the server
// (perf stat, perf record, strace) while wrk drives it. It gets the server's process ids, the
// run's length and zoneproxy's metrics URL (empty for the other targets) in its environment and writes its findings under ZPB_OUT; the harness waits for it
// after the run and records the requests the run served in ZPB_OUT/<name>.requests, so that the
// command's counts can be divided per request (bench/profile.sh).
type probeRun struct {
	cmd  *exec.Cmd
	out  string
	name string
}

// startProbe starts cmd for run rep of target in scenario; nil when cmd is empty.
func startProbe(ctx context.Context, cmd, outDir, scenario, target string, rep int, pids []int, metricsURL string, d time.Duration) (*probeRun, error) {
	if cmd == "" {
		return nil, nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-%d", scenario, target, rep)
	ps := make([]string, len(pids))
	for i, p := range pids {
		ps[i] = strconv.Itoa(p)
	}
	c := exec.CommandContext(ctx, "bash", "-c", cmd)
	c.Env = append(os.Environ(),
		"ZPB_PIDS="+strings.Join(ps, ","), "ZPB_TARGET="+target, "ZPB_SCENARIO="+scenario,
		"ZPB_RUN="+strconv.Itoa(rep), "ZPB_SECONDS="+strconv.Itoa(max(1, int(d.Seconds())-1)),
		"ZPB_OUT="+outDir, "ZPB_NAME="+name, "ZPB_METRICS="+metricsURL)
	log, err := os.Create(filepath.Join(outDir, name+".log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	c.Stdout, c.Stderr = log, log
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	return &probeRun{cmd: c, out: outDir, name: name}, nil
}

// finish waits for the probe and records the run's requests and seconds beside its output.
func (p *probeRun) finish(m Measurement) error {
	if p == nil {
		return nil
	}
	err := p.cmd.Wait()
	rec := fmt.Sprintf("requests %d\nseconds %.3f\nrps %.1f\ncpu_seconds %.3f\n", m.Requests, m.Seconds, m.RPS, m.CPUSeconds)
	if werr := os.WriteFile(filepath.Join(p.out, p.name+".requests"), []byte(rec), 0o644); werr != nil {
		return werr
	}
	if err != nil {
		return fmt.Errorf("probe %s: %w", p.name, err)
	}
	return nil
}
