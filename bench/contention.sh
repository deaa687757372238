#!/usr/bin/env bash
# contention.sh: issue 22's contention profile. Runs the hot path's Parallel benchmarks
# (proxy, router, upstream) at one and two Ps, then once more at two Ps with the mutex, block
# and CPU profiles on, and prints the top entries of each profile. Run from the repo root:
#   bash bench/contention.sh            # COUNT=3 BENCHTIME=1s OUT=<a new temp dir>
# The raw output and profiles stay in $OUT; bench/README.md "Contention at two Ps" reads them.
set -euo pipefail

count=${COUNT:-3}
benchtime=${BENCHTIME:-1s}
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
pkgs=(proxy router upstream)

echo "# $(date -u +%FT%TZ) $(uptime)" | tee "$out/load.txt"
for pkg in "${pkgs[@]}"; do
	nice go test -run '^$' -bench Parallel -cpu 1,2 -count "$count" -benchtime "$benchtime" "./$pkg" | tee "$out/$pkg.txt"
done
# The shared counters alone: the connection gauges and a route's series (metrics), one
# limit-count key (limitcount); their parallel rows have the same goroutines per P.
nice go test -run '^$' -bench 'ConnsParallel|Observe' -cpu 1,2 -count "$count" -benchtime "$benchtime" ./proxy/metrics | tee "$out/metrics.txt"
nice go test -run '^$' -bench 'Access/local' -cpu 1,2 -count "$count" -benchtime "$benchtime" ./proxy/plugin/limitcount | tee "$out/limitcount.txt"
echo "# $(date -u +%FT%TZ) $(uptime)" | tee -a "$out/load.txt"

# User and system CPU of a whole round-trip run at one and two Ps (100,000 requests; the
# setup's share is small): which side of the syscall boundary the second P's cost lands on.
go test -c -o "$out/proxy.test" ./proxy
for c in 1 2 1 2 1 2; do
	(cd proxy && /usr/bin/time -f "cpu=$c user=%U s sys=%S s vol-cs=%w invol-cs=%c" nice "$out/proxy.test" \
		-test.run '^$' -test.bench 'RoundTripParallel/plain' -test.cpu "$c" -test.benchtime 100000x 2>&1 |
		grep -E '^Benchmark|^cpu=') | tee -a "$out/usersys.txt"
done

# Profiles: one pass at two Ps. Every contended Lock is sampled (fraction 1) and one blocking
# event per microsecond blocked; the test binary is kept so pprof can symbolise.
for pkg in "${pkgs[@]}"; do
	nice go test -run '^$' -bench Parallel -cpu 2 -count 1 -benchtime "$benchtime" -o "$out/$pkg.test" \
		-mutexprofile "$out/$pkg.mutex" -mutexprofilefraction 1 \
		-blockprofile "$out/$pkg.block" -blockprofilerate 1000 \
		-cpuprofile "$out/$pkg.cpu" "./$pkg" >"$out/$pkg.profiled.txt"
	# Sorted by cumulative delay, without the benchmark's own waits and fasthttp's dialer cache
	# cleaner, which sleep whatever the load.
	for kind in mutex block; do
		echo "== $pkg $kind"
		go tool pprof -top -cum -nodecount 25 -ignore 'testing\.|main\.main|runtime\.main|tcpAddrsClean' \
			"$out/$pkg.test" "$out/$pkg.$kind" 2>/dev/null | sed -n '/flat%/,$p'
	done
	echo "== $pkg cpu"
	go tool pprof -top -nodecount 15 "$out/$pkg.test" "$out/$pkg.cpu" 2>/dev/null | sed -n '/flat%/,$p'
done
echo "# output in $out"
