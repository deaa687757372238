#!/usr/bin/env bash
# bench/probe.sh: the BENCH_PROBE command of bench/profile.sh, started by the harness beside each
# measured run with the server's pids (ZPB_PIDS) and a length (ZPB_SECONDS). What it observes
# depends on the run, so that no two tools distort each other:
#   run 1: CPU time split user/kernel (/proc/<pid>/stat), context switches, system calls, futex
#          and epoll_pwait/epoll_wait calls (perf stat, tracepoint counts), and for zoneproxy the Go
#          runtime's GC cycles and bytes allocated (its Prometheus export);
#   run 2: a CPU profile with kernel stacks (perf record -g, cpu-clock);
#   run 3: system calls by name (strace -c -f; it slows the server: its run's rps is not a figure).
# Output goes to $ZPB_OUT/$ZPB_NAME.*; bench/profile-summary.sh turns it into per-request figures.
set -uo pipefail
out="$ZPB_OUT/$ZPB_NAME"
secs="$ZPB_SECONDS"
pids="$ZPB_PIDS"
sleep 0.5 # let wrk connect

ticks() { # utime stime summed over the pids, in clock ticks
	local u=0 s=0 p f
	for p in ${pids//,/ }; do
		f=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null) || continue
		set -- $f
		u=$((u + ${12})); s=$((s + ${13}))
	done
	echo "$u $s"
}
metric() { # the value of one unlabelled series of zoneproxy's export
	curl -fsS "$ZPB_METRICS" 2>/dev/null | awk -v m="$1" '$1 == m { print $2 }'
}

case "$ZPB_RUN" in
1)
	t0=$(ticks)
	if [ -n "$ZPB_METRICS" ]; then gc0=$(metric go_gc_duration_seconds_count); al0=$(metric go_memstats_alloc_bytes_total); fi
	perf stat -x, -o "$out.perfstat" -p "$pids" \
		-e task-clock,context-switches,cpu-migrations,raw_syscalls:sys_enter,syscalls:sys_enter_futex,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_writev \
		-- sleep "$secs"
	t1=$(ticks)
	if [ -n "$ZPB_METRICS" ]; then gc1=$(metric go_gc_duration_seconds_count); al1=$(metric go_memstats_alloc_bytes_total); fi
	{
		echo "window $secs"
		echo "ticks0 $t0"
		echo "ticks1 $t1"
		[ -n "$ZPB_METRICS" ] && echo "gc $gc0 $gc1" && echo "alloc $al0 $al1"
	} >"$out.counts"
	;;
2)
	perf record -q -g -e cpu-clock -F 2000 -o "$out.perf.data" -p "$pids" -- sleep "$secs" >/dev/null 2>&1
	perf report -q -i "$out.perf.data" --no-children --sort sym --percent-limit 0.7 --stdio -g none >"$out.symbols" 2>/dev/null
	perf report -q -i "$out.perf.data" --children --sort sym --percent-limit 0.5 --stdio -g none >"$out.children" 2>/dev/null
	# BENCH_KEEP_PERF=1 keeps the recording for perf report by hand.
	[ "${BENCH_KEEP_PERF:-0}" = 1 ] || rm -f "$out.perf.data"
	;;
3)
	args=()
	for p in ${pids//,/ }; do args+=(-p "$p"); done
	timeout -s INT "$secs" strace -c -f -o "$out.strace" "${args[@]}" >/dev/null 2>&1
	;;
esac
exit 0
