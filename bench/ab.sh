#!/usr/bin/env bash
# bench/ab.sh: is B faster than A? Alternated pairs of one scenario, zoneproxy ÷ nginx in each run,
# and a sign test over the pairs (run from the repository root):
#
#   bash bench/ab.sh main HEAD                 # two git revisions, 6 pairs of 1route
#   bash bench/ab.sh /tmp/zp-old /tmp/zp-new 8 # two binaries, 8 pairs
#   BENCH_AB_LAYOUTS=3 bash bench/ab.sh main HEAD 9
#
# A side is a git revision (built in a temporary worktree, static and stripped as the harness
# builds) or the path of a zoneproxy binary. Each pair runs the harness once per side
# (BENCH_TARGETS=nginx,zoneproxy, BENCH_RUNS=3 and BENCH_DURATION=5s unless set), A first in odd
# pairs and B first in even ones, and reads zoneproxy ÷ nginx in requests per CPU-second from
# each run's table: nginx in the same run cancels most of the host's drift.
#
# Why the layouts: a change moves every function the linker places after it, and on the
# development machine a move alone changed 1route by 6 % (bench/README, "Code layout"). With
# BENCH_AB_LAYOUTS=N (revisions only) each side is built N times with the linker's -randlayout
# seeds 1..N, and pair i runs seed (i-1) mod N on both sides, so that the comparison is between
# the code over N layouts rather than between two layouts.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
	sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
a=$1
b=$2
pairs=${3:-6}
layouts=${BENCH_AB_LAYOUTS:-0}
scen=${BENCH_SCENARIOS:-1route}
case $scen in *,*) echo "bench/ab.sh: one scenario at a time (BENCH_SCENARIOS=$scen)" >&2; exit 2 ;; esac

tmp=$(mktemp -d /tmp/zpab.XXXXXX)
worktrees=()
cleanup() {
	for w in "${worktrees[@]}"; do git worktree remove --force "$w" >/dev/null 2>&1 || true; done
	rm -rf "$tmp/bin"
}
trap cleanup EXIT

# build SIDE NAME: sets built to the binaries for SIDE, one per layout.
built=()
build() {
	local side=$1 name=$2
	built=()
	if [ -f "$side" ] && [ -x "$side" ]; then
		if [ "$layouts" -gt 0 ]; then
			echo "bench/ab.sh: BENCH_AB_LAYOUTS needs revisions, $side is a binary" >&2
			exit 2
		fi
		built=("$side")
		return
	fi
	local rev
	rev=$(git rev-parse --verify --quiet "$side^{commit}") || {
		echo "bench/ab.sh: $side is neither a binary nor a revision" >&2
		exit 2
	}
	local wt=$tmp/wt-$name
	git worktree add --detach --quiet "$wt" "$rev"
	worktrees+=("$wt")
	mkdir -p "$tmp/bin"
	local seeds=(0)
	if [ "$layouts" -gt 0 ]; then seeds=($(seq "$layouts")); fi
	for s in "${seeds[@]}"; do
		local out=$tmp/bin/zoneproxy-$name-$s ld="-s -w"
		if [ "$s" != 0 ]; then ld="$ld -randlayout=$s"; fi
		(cd "$wt" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$out" ./cmd/zoneproxy)
		built+=("$out")
	done
}

build "$a" a
bins_a=("${built[@]}")
build "$b" b
bins_b=("${built[@]}")
echo "A: $a (${#bins_a[@]} build(s)); B: $b (${#bins_b[@]} build(s)); $pairs pairs of $scen; output in $tmp"

# ratio LOG: zoneproxy ÷ nginx in requests per CPU-second, from the table's "÷ nginx" row.
ratio() { awk '/÷ nginx/ { sub(/x$/, "", $8); print $8; exit }' "$1"; }

run() {
	local bin=$1 log=$2
	BENCH_ZONEPROXY=$bin BENCH_SCENARIOS=$scen BENCH_TARGETS=nginx,zoneproxy \
		BENCH_RUNS=${BENCH_RUNS:-3} BENCH_DURATION=${BENCH_DURATION:-5s} BENCH_OUT=$tmp/results \
		bash bench/run.sh >"$log" 2>&1 || { echo "bench/ab.sh: the harness failed, see $log" >&2; exit 1; }
	local r
	r=$(ratio "$log")
	if [ -z "$r" ]; then
		echo "bench/ab.sh: no ratio in $log" >&2
		exit 1
	fi
	echo "$r"
}

: >"$tmp/pairs"
for i in $(seq "$pairs"); do
	ba=${bins_a[$(((i - 1) % ${#bins_a[@]}))]}
	bb=${bins_b[$(((i - 1) % ${#bins_b[@]}))]}
	if [ $((i % 2)) = 1 ]; then
		ra=$(run "$ba" "$tmp/pair$i-a.log")
		rb=$(run "$bb" "$tmp/pair$i-b.log")
	else
		rb=$(run "$bb" "$tmp/pair$i-b.log")
		ra=$(run "$ba" "$tmp/pair$i-a.log")
	fi
	echo "$ra $rb" >>"$tmp/pairs"
	echo "pair $i: A $ra  B $rb"
done

# The medians, the pairs each side won and a two-sided sign test (ties left out).
awk '
function median(v, n,   i, j, t) {
	for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j-1] > v[j]; j--) { t = v[j]; v[j] = v[j-1]; v[j-1] = t }
	return n % 2 ? v[(n+1)/2] : (v[n/2] + v[n/2+1]) / 2
}
{ n++; a[n] = $1; b[n] = $2; if ($2 > $1) wb++; else if ($2 < $1) wa++ }
END {
	m = wa + wb; k = wa > wb ? wa : wb
	p = 0; c = 1
	for (i = 0; i <= m; i++) { if (i >= k) p += c; c = c * (m - i) / (i + 1) }
	p = 2 * p / 2 ^ m; if (p > 1 || m == 0) p = 1
	printf "zoneproxy ÷ nginx, req/CPU-s: A median %.3f, B median %.3f (B ÷ A %.3f)\n", median(a, n), median(b, n), median(b, n) / median(a, n)
	printf "B higher in %d of %d pairs, lower in %d, level in %d; sign test p = %.3f\n", wb, n, wa, n - m, p
}' "$tmp/pairs" | tee "$tmp/summary"
