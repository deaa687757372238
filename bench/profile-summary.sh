#!/usr/bin/env bash
# bench/profile-summary.sh DIR [SCENARIO]: per-request figures from the output bench/probe.sh left
# in DIR (bench/profile.sh calls it). Requests in a probe's window are the run's requests per
# second times the window (the probe starts with wrk and ends a second before it).
set -euo pipefail
dir=$1
scen=${2:-1route}
num() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
stat() { awk -F, -v e="$1" '$3 == e { print $1 }' "$2"; }

printf '%-10s %8s %8s %8s %8s %9s %8s %8s %8s %8s %8s %9s %8s\n' target req/s user_us kern_us total_us syscalls read+recv write+v epoll futex ctxsw gc/s B/req
for target in bare loop nginx zoneproxy; do
	base="$dir/$scen-$target-1"
	[ -f "$base.counts" ] || continue
	rps=$(num rps "$base.requests")
	win=$(num window "$base.counts")
	read -r u0 s0 < <(awk '$1 == "ticks0" { print $2, $3 }' "$base.counts")
	read -r u1 s1 < <(awk '$1 == "ticks1" { print $2, $3 }' "$base.counts")
	req=$(awk -v r="$rps" -v w="$win" 'BEGIN { print r * w }')
	per() { awk -v n="${1:-0}" -v r="$req" 'BEGIN { if (n == "" || n ~ /not/) print "-"; else printf "%.2f", n / r }'; }
	us() { awk -v t="$1" -v r="$req" 'BEGIN { printf "%.2f", t * 10000 / r }'; }
	gc="-" bpr="-"
	if grep -q '^gc ' "$base.counts"; then
		gc=$(awk -v w="$win" '$1 == "gc" { printf "%.1f", ($3 - $2) / w }' "$base.counts")
		bpr=$(awk -v r="$req" '$1 == "alloc" { printf "%.0f", ($3 - $2) / r }' "$base.counts")
	fi
	ps="$base.perfstat"
	rd=$(awk -v a="$(stat syscalls:sys_enter_read "$ps")" -v b="$(stat syscalls:sys_enter_recvfrom "$ps")" 'BEGIN { print a + b }')
	wr=$(awk -v a="$(stat syscalls:sys_enter_write "$ps")" -v b="$(stat syscalls:sys_enter_writev "$ps")" 'BEGIN { print a + b }')
	# Go's netpoller and loopproxy (x/sys EpollWait) call epoll_pwait, nginx epoll_wait.
	ep=$(awk -v a="$(stat syscalls:sys_enter_epoll_pwait "$ps")" -v b="$(stat syscalls:sys_enter_epoll_wait "$ps")" 'BEGIN { print a + b }')
	printf '%-10s %8.0f %8s %8s %8s %8s %9s %8s %8s %8s %8s %9s %8s\n' "$target" "$rps" \
		"$(us $((u1 - u0)))" "$(us $((s1 - s0)))" "$(us $((u1 - u0 + s1 - s0)))" \
		"$(per "$(stat raw_syscalls:sys_enter "$ps")")" "$(per "$rd")" "$(per "$wr")" \
		"$(per "$ep")" "$(per "$(stat syscalls:sys_enter_futex "$ps")")" \
		"$(per "$(stat context-switches "$ps")")" "$gc" "$bpr"
done
for target in bare loop nginx zoneproxy; do
	f="$dir/$scen-$target-2.symbols"
	[ -s "$f" ] || continue
	echo
	echo "== $target: CPU profile, self (perf record -g -e cpu-clock; [k] kernel, [.] user)"
	grep -v '^$' "$f" | head -30
	f="$dir/$scen-$target-3.strace"
	[ -s "$f" ] || continue
	echo "== $target: system calls (strace -c -f; calls over the window, divide by the requests above)"
	head -14 "$f"
done

# Where zoneproxy's time goes: inclusive shares of its CPU profile (overlapping: a line counts its
# callees), times its CPU time per request from run 1.
base="$dir/$scen-zoneproxy"
if [ -s "$base-2.children" ] && [ -f "$base-1.counts" ]; then
	total=$(awk -v r="$(num rps "$base-1.requests")" '
		$1 == "window" { w = $2 } $1 == "ticks0" { a = $2 + $3 } $1 == "ticks1" { b = $2 + $3 }
		END { printf "%.3f", (b - a) * 10000 / (r * w) }' "$base-1.counts")
	echo
	echo "== zoneproxy: where a request's $total µs go (inclusive shares of the profile × CPU µs per request)"
	while IFS='|' read -r label sym; do
		awk -v s="$sym" -v l="$label" -v t="$total" '
			{ name = $0; sub(/^ *[0-9.]+% +[0-9.]+% +\[[.k]\] /, "", name) }
			name == s { p = $1; sub(/%/, "", p); printf "%-58s %6.2f%% %6.2f µs\n", l, p, p * t / 100; exit }' "$base-2.children"
	done <<'LIST'
kernel: write(2) (client response, upstream request; runs the peer's TCP input)|ksys_write
kernel: read(2)|ksys_read
kernel: recvfrom(2) (the pooled-connection peek)|__x64_sys_recvfrom
kernel: epoll_pwait (netpoll)|do_epoll_wait
kernel: scheduler|schedule
Go: scheduler (park, findRunnable, netpoll)|runtime.park_m
Go: deadlines (SetReadDeadline/SetWriteDeadline)|internal/poll.setDeadlineImpl
Go: clock (vDSO clock_gettime, self)|__vdso_clock_gettime
fasthttp server loop (read head, handler, write response)|github.com/valyala/fasthttp.(*Server).serveConnCounted
proxy.Handle (route, plugins, header rewrite, forward)|github.com/zoneproxy/zoneproxy/proxy.(*Proxy).Handle
transport.Try (peek, send, wait, read the response)|github.com/zoneproxy/zoneproxy/proxy/transport.(*Transport).Try
transport: closedWhileIdle (peek)|github.com/zoneproxy/zoneproxy/proxy/transport.closedWhileIdle
transport: sendWhole (write + wait)|github.com/zoneproxy/zoneproxy/proxy/transport.(*Transport).sendWhole
transport: readHead|github.com/zoneproxy/zoneproxy/proxy/transport.(*Transport).readHead
proxy: record (metrics, access log)|github.com/zoneproxy/zoneproxy/proxy.(*Proxy).record
fasthttp: response write (writeResponse)|github.com/valyala/fasthttp.writeResponse
LIST
fi
