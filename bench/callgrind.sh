#!/usr/bin/env bash
# bench/callgrind.sh: instructions per op of one in-process benchmark, counted by valgrind's
# callgrind, which counts the same for the same binary whatever else the machine is doing (run
# from the repository root):
#
#   bash bench/callgrind.sh                                  # ./proxy, BenchmarkHandleDirect
#   bash bench/callgrind.sh ./proxy 'BenchmarkPlugins/key-auth$' 4000
#   CALLGRIND_TOP=40 bash bench/callgrind.sh ./router 'BenchmarkMatch/routes=10000/exact$' 100000
#
# Arguments: the package, a -test.bench pattern that names one benchmark, and N (default 10000).
# The benchmark runs twice under callgrind, N/2 and N times; the difference of the two, divided by
# N/2, is the count of one op without the set-up. It is printed by group: zoneproxy's packages,
# fasthttp, the rest of Go's library, and the runtime. Valgrind runs one thread at a time, so the
# runtime's scheduler spins and waits far more than it would on the machine: its figure changes
# from run to run and says nothing. The other three repeat to within about 1 % (what a request
# does still depends a little on how the goroutines interleave: whether a read finds data), so a
# change of a few percent of an op shows on a shared machine where wall-clock figures move by
# 10 %. The
# benchmark's own work counts too (a BenchmarkHandleDirect op copies its template request, and its
# upstream is a fasthttp server in the same process): compare a change against main, not the
# figures against other programs'. CALLGRIND_TOP (default 25) functions outside the runtime are
# listed by their own instructions per op.
#
# The runtime's asynchronous preemption is turned off (GODEBUG=asyncpreemptoff=1): valgrind 3.19
# stops on the signal it uses.
set -euo pipefail
cd "$(dirname "$0")/.."

pkg=${1:-./proxy}
pattern=${2:-'BenchmarkHandleDirect$'}
n=${3:-10000}
top=${CALLGRIND_TOP:-25}
half=$((n / 2))
if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
	echo "callgrind: valgrind is not installed (Debian: apt-get install valgrind)" >&2
	exit 1
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/zpcallgrind.XXXXXX")
trap 'rm -rf "$dir"' EXIT
go test -c -o "$dir/bench.test" "$pkg"

# count N: one callgrind run of N ops; prints "function<TAB>Ir" for every function.
count() {
	local out="$dir/cg.$1"
	GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file="$out" \
		"$dir/bench.test" -test.run '^$' -test.bench "$pattern" -test.benchtime "$1x" >"$out.log" 2>&1 || {
		tail -20 "$out.log" >&2
		exit 1
	}
	if [ "$(grep -c '^Benchmark' "$out.log")" -ne 1 ]; then
		echo "callgrind: the pattern $pattern must name exactly one benchmark; it ran:" >&2
		grep '^Benchmark' "$out.log" >&2 || true
		exit 1
	fi
	callgrind_annotate --threshold=100 "$out" |
		awk 'match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +[^ ]+:/) {
			ir = $1; gsub(",", "", ir)
			fn = substr($0, RLENGTH + 1); sub(/ \[.*\]$/, "", fn)
			print fn "\t" ir
		}'
}
count "$half" >"$dir/half"
count "$n" >"$dir/full"

awk -F'\t' -v ops="$((n - half))" -v top="$top" -v pattern="$pattern" '
	function group(fn) {
		if (fn ~ /zoneproxy\/zoneproxy/) return "zoneproxy"
		if (fn ~ /valyala\/fasthttp/) return "fasthttp"
		if (fn ~ /^(runtime|internal\/runtime|gogo)/) return "runtime"
		return "Go library"
	}
	FNR == NR { before[$1] += $2; next }
	{ after[$1] += $2 }
	END {
		for (fn in after) { d = (after[fn] - before[fn]) / ops; per[fn] = d; g[group(fn)] += d }
		for (fn in before) if (!(fn in after)) { d = -before[fn] / ops; per[fn] = d; g[group(fn)] += d }
		printf "%s: instructions per op (callgrind; the difference of two runs, over %d ops)\n", pattern, ops
		printf "  %-12s %9.0f\n", "zoneproxy", g["zoneproxy"]
		printf "  %-12s %9.0f\n", "fasthttp", g["fasthttp"]
		printf "  %-12s %9.0f\n", "Go library", g["Go library"]
		printf "  %-12s %9.0f   (not comparable: the scheduler spins under valgrind)\n", "runtime", g["runtime"]
		printf "\ntop %d outside the runtime, own instructions per op:\n", top
		for (fn in per) if (group(fn) != "runtime") printf "%9.0f  %s\n", per[fn], fn | "sort -rn | head -" top
	}' "$dir/half" "$dir/full"
