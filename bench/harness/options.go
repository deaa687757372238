package harness

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Options configure Run. FromEnv gives the defaults, overridden by the BENCH_* environment variables.
type Options struct {
	Root      string        // the module's root directory: builds run and results land there
	OutDir    string        // results directory (BENCH_OUT, default bench/results under Root)
	Duration  time.Duration // one measured wrk run (BENCH_DURATION, default 10s)
	Warmup    time.Duration // the discarded warm-up run (BENCH_WARMUP, default 3s)
	Runs      int           // measured runs per target (BENCH_RUNS, default 3)
	Conns     int           // wrk connections (BENCH_CONNS, default 64)
	Threads   int           // wrk threads (BENCH_THREADS, default 1)
	Scenarios []string      // scenario names (BENCH_SCENARIOS, default all)
	Targets   []string      // peers measured (BENCH_TARGETS, default upstream,bare,nginx,zoneproxy; also loop)
	ChurnRate int           // route updates per second in the churn scenarios (BENCH_CHURN_RATE, default 100)
	ProxyCPU  string        // CPU of the server under test (BENCH_PROXY_CPU, default 0)
	LoadCPU   string        // CPU of wrk, the backend and the harness (BENCH_LOAD_CPU, default 1)
	Zoneproxy string        // a prebuilt zoneproxy binary (BENCH_ZONEPROXY); default: go build ./cmd/zoneproxy
	// Nice is the scheduling priority of the harness and everything it starts (BENCH_NICE, default
	// -10; 0 leaves it alone): it keeps other work on a shared machine from preempting the measured
	// processes as often. It needs root (CAP_SYS_NICE); without, the run goes on at the usual priority.
	Nice int
	// Probe is a shell command started beside every measured run (BENCH_PROBE), with the server's
	// process ids in ZPB_PIDS, the target, scenario and run in ZPB_TARGET, ZPB_SCENARIO, ZPB_RUN, a
	// length to observe (the run's less a second) in ZPB_SECONDS, and ProbeDir in ZPB_OUT; the
	// harness waits for it after the run. bench/profile.sh uses it for perf and strace.
	Probe string
	// ProbeDir collects the probe's output (BENCH_PROBE_OUT, default a probe directory beside the
	// results).
	ProbeDir string
	// NginxDeferred gives nginx's listen directive "deferred" (TCP_DEFER_ACCEPT, as zoneproxy's
	// listener on Linux) instead of APISIX's plain listen (BENCH_NGINX_DEFERRED=1): what the same
	// option is worth to nginx in the scenarios with a new connection per request.
	NginxDeferred bool
	// Keep leaves the run's directory (configs, logs of every process) in place (BENCH_KEEP=1).
	Keep bool
	// Symbols builds the Go programs with their symbol tables (BENCH_SYMBOLS=1), for perf: the
	// release build is stripped, and perf then names no Go function.
	Symbols bool
	Log     *slog.Logger // progress; nil: discarded
}

// Target names.
const (
	TargetUpstream = "upstream"
	TargetNginx    = "nginx"
	// TargetBare is bench/cmd/bareproxy: the simplest fasthttp forwarder, zoneproxy's ceiling.
	TargetBare = "bare"
	// TargetLoop is bench/cmd/loopproxy: the bare forwarder on an epoll event loop instead of a
	// goroutine per connection (issue 22, item 4). Not among the default targets.
	TargetLoop      = "loop"
	TargetZoneproxy = "zoneproxy"
	TargetChurn     = "zoneproxy+churn"
)

// FromEnv returns the default Options with the BENCH_* variables of getenv applied.
func FromEnv(getenv func(string) string) (Options, error) {
	o := Options{
		Duration: 10 * time.Second, Warmup: 3 * time.Second, Runs: 3, Conns: 64, Threads: 1,
		Scenarios: ScenarioNames(), Targets: []string{TargetUpstream, TargetBare, TargetNginx, TargetZoneproxy},
		ChurnRate: 100, ProxyCPU: "0", LoadCPU: "1", Nice: -10,
	}
	durations := []struct {
		env string
		dst *time.Duration
	}{{"BENCH_DURATION", &o.Duration}, {"BENCH_WARMUP", &o.Warmup}}
	for _, d := range durations {
		if v := getenv(d.env); v != "" {
			x, err := time.ParseDuration(v)
			if err != nil || x < 0 {
				return o, fmt.Errorf("%s: %q is not a duration", d.env, v)
			}
			*d.dst = x
		}
	}
	ints := []struct {
		env string
		dst *int
	}{{"BENCH_RUNS", &o.Runs}, {"BENCH_CONNS", &o.Conns}, {"BENCH_THREADS", &o.Threads}, {"BENCH_CHURN_RATE", &o.ChurnRate}}
	for _, d := range ints {
		if v := getenv(d.env); v != "" {
			x, err := strconv.Atoi(v)
			if err != nil || x < 1 {
				return o, fmt.Errorf("%s: %q is not a positive integer", d.env, v)
			}
			*d.dst = x
		}
	}
	if v := getenv("BENCH_NICE"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil {
			return o, fmt.Errorf("BENCH_NICE: %q is not an integer", v)
		}
		o.Nice = x
	}
	o.Keep = getenv("BENCH_KEEP") == "1"
	o.Symbols = getenv("BENCH_SYMBOLS") == "1"
	o.NginxDeferred = getenv("BENCH_NGINX_DEFERRED") == "1"
	if v := getenv("BENCH_SCENARIOS"); v != "" {
		o.Scenarios = splitList(v)
	}
	if v := getenv("BENCH_TARGETS"); v != "" {
		o.Targets = splitList(v)
	}
	for env, dst := range map[string]*string{
		"BENCH_OUT": &o.OutDir, "BENCH_PROXY_CPU": &o.ProxyCPU, "BENCH_LOAD_CPU": &o.LoadCPU, "BENCH_ZONEPROXY": &o.Zoneproxy,
		"BENCH_PROBE": &o.Probe, "BENCH_PROBE_OUT": &o.ProbeDir,
	} {
		if v := getenv(env); v != "" {
			*dst = v
		}
	}
	return o, o.Validate()
}

// Validate checks the scenario and target names and the numbers.
func (o Options) Validate() error {
	if o.Duration < time.Second {
		return fmt.Errorf("duration: %s is shorter than 1s", o.Duration)
	}
	if o.Runs < 1 || o.Conns < 1 || o.Threads < 1 || o.ChurnRate < 1 {
		return fmt.Errorf("runs, conns, threads and churn rate must be positive (got %d, %d, %d, %d)",
			o.Runs, o.Conns, o.Threads, o.ChurnRate)
	}
	if o.Nice < -20 || o.Nice > 19 {
		return fmt.Errorf("nice: %d is outside -20..19", o.Nice)
	}
	if o.Threads > o.Conns {
		return fmt.Errorf("threads: %d is more than conns %d", o.Threads, o.Conns)
	}
	if len(o.Scenarios) == 0 {
		return fmt.Errorf("scenarios: none")
	}
	for _, s := range o.Scenarios {
		if _, ok := scenarioByName(s); !ok {
			return fmt.Errorf("scenarios: %q is not one of %s", s, strings.Join(ScenarioNames(), ","))
		}
	}
	for _, t := range o.Targets {
		switch t {
		case TargetUpstream, TargetBare, TargetLoop, TargetNginx, TargetZoneproxy:
		default:
			return fmt.Errorf("targets: %q is not upstream, bare, loop, nginx or zoneproxy", t)
		}
	}
	return nil
}

func (o Options) wants(target string) bool {
	for _, t := range o.Targets {
		if t == target {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
