#!/usr/bin/env bash
# bench/workers2.sh: the two-worker comparison of issue 22 (the harness's 2workers scenario is the
# pinned equivalent, with zoneproxy):
# nginx with worker_processes 2 against the forwarders at GOMAXPROCS=2 (bench/cmd/bareproxy, and
# bench/cmd/loopproxy with its two event loops), nothing pinned, wrk (-t2) and the backend sharing
# both cores with the server. Target bare2 (not in the default list) is two bareproxy processes at
# GOMAXPROCS=1 sharing the port with SO_REUSEPORT, nginx's model of a worker per core, against
# bare's one process at GOMAXPROCS=2. Run from the repository root:
#
#   bash bench/workers2.sh                       # /bench, 3 runs of 5 s per target, interleaved
#   BENCH_PATH=/bench/64k BENCH_RUNS=5 bash bench/workers2.sh
#   BENCH_TARGETS=nginx,bare,bare2 BENCH_RUNS=5 bash bench/workers2.sh
#
# Requests per CPU-second are the run's requests over the server's CPU time (utime+stime of
# /proc/<pid>/stat, nginx's master and workers summed); p99 is wrk's. Each line is one run; compare
# medians, and look at the load average printed at the start and the end.
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${BENCH_DURATION:-5s}
runs=${BENCH_RUNS:-3}
conns=${BENCH_CONNS:-64}
path=${BENCH_PATH:-/bench}
targets=${BENCH_TARGETS:-nginx,bare,loop}
nginx=$(command -v nginx || echo /usr/sbin/nginx)
tmp=$(mktemp -d /tmp/zpworkers2.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		pkill -P "$p" 2>/dev/null || true # bare2's processes, under their shell
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

for cmd in benchupstream bareproxy loopproxy; do
	go build -trimpath -ldflags "-s -w" -o "$tmp/$cmd" "./bench/cmd/$cmd"
done
freeport() { # a loopback port nothing listens on
	local p
	while :; do
		p=$((20000 + RANDOM % 20000))
		ss -Htan "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
waitport() { # until 127.0.0.1:$1 answers $path with 200
	for _ in $(seq 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1$path")" = 200 ] && return 0
		sleep 0.1
	done
	echo "workers2: nothing answers on port $1" >&2
	return 1
}
start() { # start NAME ARGV...: start a server in the background, its pid in $pid
	"${@:2}" >"$tmp/$1.log" 2>&1 &
	pid=$!
	pids+=("$pid")
}

up=$(freeport)
start upstream env GOMAXPROCS=2 "$tmp/benchupstream" -addr "127.0.0.1:$up"
waitport "$up"

declare -A port pidof
for t in ${targets//,/ }; do
	port[$t]=$(freeport)
	case $t in
	nginx)
		mkdir -p "$tmp/nginx"
		cat >"$tmp/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 19000;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    client_body_temp_path $tmp/nginx/client_body;
    proxy_temp_path $tmp/nginx/proxy;
    fastcgi_temp_path $tmp/nginx/fastcgi;
    uwsgi_temp_path $tmp/nginx/uwsgi;
    scgi_temp_path $tmp/nginx/scgi;
    keepalive_requests 1000000;
    upstream bench_upstream { server 127.0.0.1:$up; keepalive 64; keepalive_requests 1000000; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_max_temp_file_size 0;
    proxy_buffer_size 16k;
    proxy_buffers 8 32k;
    proxy_busy_buffers_size 64k;
    server {
        listen 127.0.0.1:${port[$t]};
        location / { proxy_pass http://bench_upstream; }
    }
}
EOF
		chmod 755 "$tmp"
		start nginx "$nginx" -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx/nginx.conf"
		;;
	bare2)
		# Both under one shell, so that ticks counts them as its children.
		one="GOMAXPROCS=1 $tmp/bareproxy -reuseport -addr 127.0.0.1:${port[$t]} -upstream 127.0.0.1:$up"
		start bare2 bash -c "$one & $one & wait"
		;;
	bare) start bare env GOMAXPROCS=2 "$tmp/bareproxy" -addr "127.0.0.1:${port[$t]}" -upstream "127.0.0.1:$up" ;;
	loop) start loop env GOMAXPROCS=2 "$tmp/loopproxy" -addr "127.0.0.1:${port[$t]}" -upstream "127.0.0.1:$up" ;;
	*)
		echo "workers2: unknown target $t" >&2
		exit 2
		;;
	esac
	pidof[$t]=$pid
	waitport "${port[$t]}"
done

ticks() { # utime+stime of a process and its children (nginx's workers), in clock ticks
	local sum=0 p f
	for p in $1 $(pgrep -P "$1" || true); do
		f=$(sed 's/.*) //' "/proc/$p/stat") || continue
		set -- $f
		sum=$((sum + ${12} + ${13}))
	done
	echo "$sum"
}
ms() { # a wrk latency (123.45us, 1.23ms, 1.20s) in milliseconds
	awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); n = v + 0
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; printf "%.2f", n }'
}
hz=$(getconf CLK_TCK)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); path $path, $conns connections, $runs runs of $dur"
printf '%-6s %4s %9s %9s %9s %11s\n' target run req/s p99_ms cpu_s req/CPU-s
for t in ${targets//,/ }; do # warm-up, discarded
	wrk -t2 -c"$conns" -d2s "http://127.0.0.1:${port[$t]}$path" >/dev/null
done
for r in $(seq "$runs"); do
	for t in ${targets//,/ }; do
		t0=$(ticks "${pidof[$t]}")
		out=$(wrk -t2 -c"$conns" -d"$dur" --latency "http://127.0.0.1:${port[$t]}$path")
		t1=$(ticks "${pidof[$t]}")
		reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
		secs=$(awk '/requests in/ { sub(/s,$/, "", $4); print $4 }' <<<"$out")
		p99=$(ms "$(awk '$1 == "99%" { print $2 }' <<<"$out")")
		errs=$(grep -E 'Socket errors|Non-2xx' <<<"$out" || true)
		awk -v t="$t" -v r="$r" -v n="$reqs" -v s="$secs" -v p="$p99" -v c=$((t1 - t0)) -v hz="$hz" -v e="$errs" 'BEGIN {
			cpu = c / hz; printf "%-6s %4d %9.0f %9s %9.2f %11.0f %s\n", t, r, n / s, p, cpu, (cpu > 0 ? n / cpu : 0), e }'
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
