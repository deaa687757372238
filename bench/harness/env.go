package harness

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Env describes the machine and the software measured.
type Env struct {
	GoVersion    string `json:"go_version"`
	Kernel       string `json:"kernel"`
	CPUModel     string `json:"cpu_model"`
	CPUs         int    `json:"cpus"`
	LoadAvgStart string `json:"loadavg_start"`
	LoadAvgEnd   string `json:"loadavg_end"`
	Wrk          string `json:"wrk"`
	Nginx        string `json:"nginx,omitempty"`
	Commit       string `json:"commit"` // git describe --always --dirty of the tree built
	// ZoneproxyGOMAXPROCS is the GOMAXPROCS zoneproxy and the upstreams run with: one CPU each.
	ZoneproxyGOMAXPROCS int    `json:"zoneproxy_gomaxprocs"`
	GOGC                string `json:"gogc,omitempty"` // GOGC passed on to zoneproxy, if set
}

func readEnv(ctx context.Context, root string, t tools) Env {
	e := Env{
		GoVersion: runtime.Version(), CPUs: runtime.NumCPU(), ZoneproxyGOMAXPROCS: 1, GOGC: os.Getenv("GOGC"),
		Kernel: firstLine(readFile("/proc/sys/kernel/osrelease")), LoadAvgStart: loadAvg(),
		Commit: firstLine(output(ctx, root, "git", "describe", "--always", "--dirty")),
		Wrk:    firstLine(output(ctx, root, t.wrk, "-v")),
	}
	if t.nginx != "" {
		e.Nginx = firstLine(output(ctx, root, t.nginx, "-v"))
	}
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			e.CPUModel = strings.TrimSpace(v)
			break
		}
	}
	return e
}

func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// output runs a command for its combined output, whatever its exit status (wrk -v exits 1).
func output(ctx context.Context, dir, name string, args ...string) string {
	if name == "" {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, _ := cmd.CombinedOutput()
	return string(bytes.TrimSpace(out))
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}
