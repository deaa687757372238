#!/usr/bin/env bash
# bench/profile.sh: where a proxied request's CPU goes, for zoneproxy, the bare fasthttp forwarder
# and nginx under the same load (run from the repository root):
#
#   bash bench/profile.sh                            # 1route, 3 runs of 10 s per target
#   BENCH_SCENARIOS=10k BENCH_DURATION=5s bash bench/profile.sh
#
# It runs the harness (bench/run.sh) with bench/probe.sh as BENCH_PROBE: run 1 of each target
# counts CPU time (user/kernel), system calls, futex and epoll calls, context switches and, for
# zoneproxy, GC cycles and bytes allocated; run 2 records a CPU profile with kernel stacks; run 3
# counts system calls by name with strace. The probes perturb their runs, so the harness's table of
# this run is not a benchmark figure: take those from `make bench`. The per-request summary
# (bench/profile-summary.sh) is printed at the end and kept in the probe directory.
#
# The VM this was written on exposes no hardware counters (perf stat instructions:u reports "not
# supported"): CPU time per request is the measure, from /proc/<pid>/stat.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${BENCH_PROBE_OUT:-$(mktemp -d /tmp/zpprofile.XXXXXX)}
export BENCH_PROBE_OUT=$out
export BENCH_PROBE="bash $PWD/bench/probe.sh"
export BENCH_SCENARIOS=${BENCH_SCENARIOS:-1route}
export BENCH_TARGETS=${BENCH_TARGETS:-bare,nginx,zoneproxy}
export BENCH_RUNS=3
export BENCH_SYMBOLS=${BENCH_SYMBOLS:-1} # perf names no function of a stripped Go binary
export BENCH_OUT=${BENCH_OUT:-$out/results}
bash bench/run.sh
for s in ${BENCH_SCENARIOS//,/ }; do
	echo "=== $s"
	bash bench/profile-summary.sh "$out" "$s" | tee "$out/summary-$s.txt"
done
echo "probe output: $out"
