#!/usr/bin/env bash
# make bench: install wrk, nginx, h2load (nghttp2-client) and redis-server (the limitredis scenario)
# from Debian's packages if they are missing, then run the harness
# (bench/cmd/zpbench) from the repository root. Arguments go to the harness; so do the BENCH_*
# variables (BENCH_DURATION=3s BENCH_SCENARIOS=1route for a quick run).
#
# nginx is only ever run by the harness, in the foreground with its own configuration: the install
# below keeps Debian from starting it as a system service.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have wrk || missing+=(wrk)
have nginx || missing+=(nginx)
have h2load || missing+=(nghttp2-client)
have redis-server || missing+=(redis-server)
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		if command -v sudo >/dev/null 2>&1; then sudo="sudo"; fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "bench: apt-get is not available: cannot install ${missing[*]}" >&2
	elif [ "$(id -u)" -ne 0 ] && [ -z "$sudo" ]; then
		echo "bench: not root and no sudo: cannot install ${missing[*]}" >&2
	else
		echo "bench: installing ${missing[*]} with apt-get" >&2
		# A policy-rc.d that says "no" keeps the nginx package from starting its service; only a file
		# created here is removed again.
		policy=/usr/sbin/policy-rc.d
		made_policy=""
		if [ ! -e "$policy" ]; then
			printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy" && made_policy=1
		fi
		export DEBIAN_FRONTEND=noninteractive
		# As root there is no sudo to pass the environment through: DEBIAN_FRONTEND is already exported.
		sudo_env=""
		if [ -n "$sudo" ]; then sudo_env="$sudo -E"; fi
		if ! { $sudo apt-get update -qq && $sudo_env apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >&2; then
			echo "bench: apt-get install ${missing[*]} failed" >&2
		fi
		if [ -n "$made_policy" ]; then $sudo rm -f "$policy"; fi
	fi
fi
if ! have wrk; then
	echo "bench: wrk is required and could not be installed; nothing to measure" >&2
	exit 1
fi
have nginx || echo "bench: nginx is missing: the nginx peer will be skipped" >&2
have h2load || echo "bench: h2load is missing: the h2 scenario will be skipped" >&2
have redis-server || echo "bench: redis-server is missing: the limitredis scenario will be skipped" >&2

exec go run ./bench/cmd/zpbench "$@"
