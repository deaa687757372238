#!/usr/bin/env bash
# bench/cachesim.sh: cache misses per proxied request, zoneproxy against the bare fasthttp
# forwarder, under the same load of many keep-alive connections (run from the repository root):
#
#   bash bench/cachesim.sh                                 # both, 64 connections, 20 s each
#   CACHESIM_CONNS=8 CACHESIM_TARGETS=zoneproxy bash bench/cachesim.sh
#   CACHESIM_ZONEPROXY=<binary built with symbols> bash bench/cachesim.sh
#   CACHESIM_BASE=7befc60 bash bench/cachesim.sh            # this tree against a revision
#
# Each target runs as a process under valgrind's callgrind with its cache simulation, one P
# (GOMAXPROCS=1) on CPU 0, with the bench upstream and wrk (-t1 -c CACHESIM_CONNS) on CPU 1. After
# a warm-up the counters are zeroed, wrk runs CACHESIM_SECONDS, and the counters are dumped and
# divided by the requests wrk completed: instructions, level-1 instruction misses, level-1 data
# read and write misses, and misses of the last level (instruction, data read, data write). The
# last level is CACHESIM_LL (default 524288,8,64: a 512 KiB, 8-way L2, what each core of the AMD
# EPYC hosts this was written on has; their L3 holds everything, so an L2 miss costs an L3 hit,
# some 40–50 cycles). The level-1 caches are 32 KiB, 8-way. Then the functions with the most
# last-level data misses a request are listed (CACHESIM_TOP, default 20).
#
# What it is for: a wall-clock or CPU-time difference of a few percent is lost on a noisy host,
# and this one has no hardware counters. The simulation counts misses of user space only (the
# kernel's own misses, and its code and data evicting the program's, are not in it), and valgrind
# runs one thread at a time, so the runtime's share is not the machine's. Compare a change against
# main, and read the misses of zoneproxy's and fasthttp's functions; the figures of one binary
# repeat within a few percent.
#
# With CACHESIM_BASE (a zoneproxy binary, or a git revision to build in a scratch worktree) the
# targets are zoneproxy and base, and the run ends with the functions whose own instructions a
# request changed the most from base to zoneproxy: how a hot-path change is measured in the
# server itself, rather than in an in-process benchmark (bench/callgrind.sh). callgrind puts
# some of other goroutines' work under the frames of a goroutine that parked (a dial in the
# window, say), so read the changes of leaf functions, not of the serve loop's frames.
#
# The zoneproxy it runs is a standalone one (a file of one route, no control plane), with its
# status and metrics servers on other free ports. Needs valgrind, wrk and ss.
#
# Other requests and routes:
#   CACHESIM_HEADER='Connection: keep-alive'  # a header field wrk adds to every request
#                                              # ('Connection: close': a new connection each)
#   CACHESIM_PLUGINS=1                         # the route runs key-auth, limit-count (a count never
#                                              # reached) and prometheus, as the bench's plugins
#                                              # row; wrk sends the consumer's key
set -euo pipefail
cd "$(dirname "$0")/.."

conns=${CACHESIM_CONNS:-64}
secs=${CACHESIM_SECONDS:-20}
base=${CACHESIM_BASE:-}
if [ -n "$base" ]; then
	targets=${CACHESIM_TARGETS:-zoneproxy,base}
else
	targets=${CACHESIM_TARGETS:-zoneproxy,bare}
fi
ll=${CACHESIM_LL:-524288,8,64}
wrkargs=()
if [ -n "${CACHESIM_HEADER:-}" ]; then
	wrkargs+=(-H "$CACHESIM_HEADER")
fi
plugins=""
consumers=""
if [ "${CACHESIM_PLUGINS:-}" = 1 ]; then
	wrkargs+=(-H "apikey: cachesim-key")
	plugins='    plugins:
      key-auth: {}
      limit-count: {count: 1000000000, time_window: 3600}
      prometheus: {}'
	consumers='consumers:
  - username: cachesim
    plugins:
      key-auth: {key: cachesim-key}'
fi
top=${CACHESIM_TOP:-20}
for tool in valgrind callgrind_annotate callgrind_control wrk ss taskset; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "cachesim: $tool is not installed (Debian: apt-get install valgrind wrk iproute2 util-linux)" >&2
		exit 1
	fi
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/zpcachesim.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	if [ -d "$dir/base-src" ]; then
		git worktree remove --force "$dir/base-src" >/dev/null 2>&1 || true
	fi
	rm -rf "$dir"
}
trap cleanup EXIT

# free_port prints a TCP port nothing listens on (the servers here take fixed ports from their
# flags and configuration).
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		if [ -z "$(ss -Htln "sport = :$p")" ]; then
			echo "$p"
			return
		fi
	done
}

# wait_up URL: poll until the URL answers, for up to a minute (valgrind starts slowly).
wait_up() {
	local i
	for i in $(seq 1 300); do
		if wrk -t1 -c1 "${wrkargs[@]}" -d1s "$1" 2>/dev/null | grep -q "requests in"; then
			return 0
		fi
		sleep 0.2
	done
	echo "cachesim: $1 did not answer" >&2
	exit 1
}

zp=${CACHESIM_ZONEPROXY:-}
if [ -z "$zp" ]; then
	go build -o "$dir/zoneproxy" ./cmd/zoneproxy
	zp=$dir/zoneproxy
fi
if [ -n "$base" ]; then
	if [ -f "$base" ]; then
		basebin=$base
	else
		git worktree add --detach "$dir/base-src" "$base" >/dev/null 2>&1 || {
			echo "cachesim: CACHESIM_BASE $base is neither a file nor a revision" >&2
			exit 1
		}
		(cd "$dir/base-src" && go build -o "$dir/base" ./cmd/zoneproxy)
		basebin=$dir/base
	fi
fi
go build -o "$dir/bare" ./bench/cmd/bareproxy
go build -o "$dir/upstream" ./bench/cmd/benchupstream

up=$(free_port)
taskset -c 1 "$dir/upstream" -addr "127.0.0.1:$up" >"$dir/upstream.log" 2>&1 &
pids+=($!)

# zoneproxy's standalone configuration: one route, as the bench's 1route.
zport=$(free_port)
mkdir -p "$dir/data"
cat >"$dir/apisix.yaml" <<EOF
routes:
  - id: "1"
    uri: /bench
$plugins
    upstream:
      type: roundrobin
      nodes:
        "127.0.0.1:$up": 1
$consumers
#END
EOF
cat >"$dir/config.yaml" <<EOF
apisix:
  node_listen:
    - ip: 127.0.0.1
      port: $zport
  status:
    ip: 127.0.0.1
    port: $(free_port)
  ssl:
    enable: false
deployment:
  role: data_plane
  role_data_plane:
    config_provider: yaml
plugin_attr:
  prometheus:
    export_addr:
      ip: 127.0.0.1
      port: $(free_port)
zoneproxy:
  data_dir: $dir/data
  standalone_file: $dir/apisix.yaml
  log:
    level: warn
EOF

# measure NAME PORT COMMAND...: run COMMAND under callgrind, load it, print the figures.
measure() {
	local name=$1 port=$2
	shift 2
	local url=http://127.0.0.1:$port/bench out=$dir/$name.cg
	# schedtrace: zoneproxy would otherwise run itself again to set it (internal/sysmon), out
	# of valgrind's reach. asyncpreemptoff: valgrind 3.19 stops on the runtime's signal.
	GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1,schedtrace=2147483647 taskset -c 0 \
		valgrind --tool=callgrind --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL="$ll" \
		--callgrind-out-file="$out" "$@" >"$dir/$name.log" 2>&1 &
	local vpid=$!
	pids+=("$vpid")
	wait_up "$url"
	taskset -c 1 wrk -t1 -c"$conns" "${wrkargs[@]}" -d5s "$url" >/dev/null 2>&1
	callgrind_control -z "$vpid" >/dev/null
	taskset -c 1 wrk -t1 -c"$conns" "${wrkargs[@]}" -d"${secs}s" "$url" >"$dir/$name.wrk" 2>&1
	callgrind_control -d "$vpid" >/dev/null
	kill -KILL "$vpid" 2>/dev/null || true
	wait "$vpid" 2>/dev/null || true
	local reqs
	reqs=$(awk '/requests in/ { print $1 }' "$dir/$name.wrk")
	local dump=$dir/$name.dump
	local dumps=("$out".*)
	mv "${dumps[0]}" "$dump"
	echo "$reqs" >"$dir/$name.reqs"
	echo "=== $name: $reqs requests in ${secs} s at $conns connections (LL $ll)"
	awk -v reqs="$reqs" '/^totals:/ {
		printf "  per request: %.0f instructions, I1 misses %.1f, D1 misses %.1f read + %.1f write, LL misses %.1f instruction + %.1f read + %.1f write\n",
			$2 / reqs, $5 / reqs, $6 / reqs, $7 / reqs, $8 / reqs, $9 / reqs, $10 / reqs
	}' "$dump"
	echo "  last-level data misses a request, by function (read + write):"
	per_fn "$name" DLmr,DLmw merge | awk -F'\t' '{ printf "%9.1f  %s\n", $2, $1 }' |
		# sed reads it all: head would end sort with SIGPIPE, and pipefail the script.
		sort -rn | sed -n "1,${top}p"
}

# per_fn NAME EVENTS [merge]: "function<TAB>the EVENTS (callgrind_annotate's --show list) summed,
# a request" for every function of NAME's dump, sorted by name. With merge, a recursion level
# (fn'2) counts with its function; without, it stays apart, which keeps the work callgrind puts
# under the frames of a parked goroutine (most of it in such levels) out of the function's own.
per_fn() {
	callgrind_annotate --auto=no --show="$2" --threshold=100 "$dir/$1.dump" 2>/dev/null |
		awk -v reqs="$(cat "$dir/$1.reqs")" -v k="$(echo "$2" | tr ',' '\n' | wc -l)" -v merge="${3:-}" '{
			line = $0
			gsub(/\( *[0-9.]+%\)/, "", line)
			v = 0
			for (i = 1; i <= k; i++) {
				if (!match(line, /^ *[0-9,]+/)) next
				x = substr(line, 1, RLENGTH); gsub(/[ ,]/, "", x); v += x
				line = substr(line, RLENGTH + 1)
			}
			sub(/^ +/, "", line); sub(/ \[[^]]*\]$/, "", line)
			if (index(line, ":") == 0) next
			fn = substr(line, index(line, ":") + 1)
			if (merge != "") sub(/'\''[0-9]+$/, "", fn)
			if (fn != "") m[fn] += v / reqs
		}
		END { for (fn in m) printf "%s\t%.1f\n", fn, m[fn] }' | sort
}

for t in ${targets//,/ }; do
	case $t in
	zoneproxy) measure zoneproxy "$zport" "$zp" -c "$dir/config.yaml" ;;
	bare)
		port=$(free_port)
		measure bare "$port" "$dir/bare" -addr "127.0.0.1:$port" -upstream "127.0.0.1:$up"
		;;
	base)
		if [ -z "$base" ]; then
			echo "cachesim: the base target needs CACHESIM_BASE" >&2
			exit 1
		fi
		measure base "$zport" "$basebin" -c "$dir/config.yaml"
		;;
	*)
		echo "cachesim: unknown target $t (zoneproxy, bare, base)" >&2
		exit 1
		;;
	esac
done

if [ -f "$dir/zoneproxy.dump" ] && [ -f "$dir/base.dump" ]; then
	echo "=== own instructions a request, base -> zoneproxy, the $top largest changes"
	per_fn base Ir >"$dir/base.ir"
	per_fn zoneproxy Ir >"$dir/zoneproxy.ir"
	join -t "$(printf '\t')" -a1 -a2 -e0 -o 0,1.2,2.2 "$dir/base.ir" "$dir/zoneproxy.ir" |
		awk -F'\t' '{ d = $3 - $2; a = d < 0 ? -d : d; if (a >= 1) printf "%.1f\t%8.0f %8.0f %+8.0f  %s\n", a, $2, $3, d, $1 }' |
		sort -rn | sed -n "1,${top}p" | cut -f2-
fi
