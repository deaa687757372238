// Command zpbench is `make bench`: zoneproxy measured against nginx and the bare upstream with wrk, on
// loopback, the server under test pinned to one CPU. Run it from the repository root, through
// bench/run.sh, which installs wrk and nginx first if they are missing.
//
//	zpbench [-duration 10s] [-warmup 3s] [-runs 3] [-conns 64] [-scenarios 1route,10k,...]
//	        [-targets upstream,nginx,zoneproxy] [-out bench/results]
//
// Every flag defaults to its BENCH_* environment variable (BENCH_DURATION, BENCH_SCENARIOS, ...), so
// `BENCH_DURATION=3s BENCH_SCENARIOS=1route make bench` is a quick run. It prints a table and writes
// bench/results/<timestamp>.json and .txt; it exits 1 if a scenario failed.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/zoneproxy/zoneproxy/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := harness.FromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "zpbench:", err)
		return 2
	}
	fs := flag.NewFlagSet("zpbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&o.Duration, "duration", o.Duration, "one measured wrk run (BENCH_DURATION)")
	fs.DurationVar(&o.Warmup, "warmup", o.Warmup, "the discarded warm-up run per target, 0 for none (BENCH_WARMUP)")
	fs.IntVar(&o.Runs, "runs", o.Runs, "measured runs per target (BENCH_RUNS)")
	fs.IntVar(&o.Conns, "conns", o.Conns, "wrk connections (BENCH_CONNS)")
	fs.IntVar(&o.Threads, "threads", o.Threads, "wrk threads (BENCH_THREADS)")
	fs.IntVar(&o.ChurnRate, "churn-rate", o.ChurnRate, "route updates per second in the churn scenarios (BENCH_CHURN_RATE)")
	fs.IntVar(&o.Nice, "nice", o.Nice, "priority of the harness and what it starts, 0 to leave it (BENCH_NICE)")
	scen := fs.String("scenarios", strings.Join(o.Scenarios, ","), "scenarios to run (BENCH_SCENARIOS)")
	targets := fs.String("targets", strings.Join(o.Targets, ","), "peers to measure (BENCH_TARGETS)")
	fs.StringVar(&o.OutDir, "out", o.OutDir, "results directory (BENCH_OUT, default bench/results)")
	fs.StringVar(&o.Zoneproxy, "zoneproxy", o.Zoneproxy, "a zoneproxy binary to measure instead of building ./cmd/zoneproxy (BENCH_ZONEPROXY)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.Scenarios, o.Targets = splitList(*scen), splitList(*targets)
	if err := o.Validate(); err != nil {
		fmt.Fprintln(stderr, "zpbench:", err)
		return 2
	}
	if o.Root, err = os.Getwd(); err != nil {
		fmt.Fprintln(stderr, "zpbench:", err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(o.Root, "cmd", "zoneproxy")); err != nil {
		fmt.Fprintln(stderr, "zpbench: run it from the repository root (no cmd/zoneproxy here)")
		return 2
	}
	if o.OutDir == "" {
		o.OutDir = filepath.Join("bench", "results")
	}
	if o.Probe != "" && o.ProbeDir == "" {
		o.ProbeDir = filepath.Join(o.OutDir, "probe")
	}
	o.Log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("component", "zpbench")

	rep, runErr := harness.Run(ctx, o)
	if rep == nil || len(rep.Scenarios) == 0 {
		fmt.Fprintln(stderr, "zpbench:", runErr)
		return 1
	}
	fmt.Fprintln(stdout)
	if err := harness.WriteTable(stdout, rep); err != nil {
		fmt.Fprintln(stderr, "zpbench:", err)
		return 1
	}
	path, err := harness.WriteResults(o.OutDir, rep)
	if err != nil {
		fmt.Fprintln(stderr, "zpbench:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nresults: %s (figures: median of %d runs; RSS: highest sampled)\n", path, o.Runs)
	if runErr != nil {
		fmt.Fprintln(stderr, "zpbench:", runErr)
		return 1
	}
	return 0
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
