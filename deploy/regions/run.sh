#!/usr/bin/env bash
# make run-regions: two regions, each a devcp (its own etcd) and a zoneproxy; `zoneproxy sync`
# pushes deploy/regions/apisix.yaml to both (to eu's etcd directly, to us's through its APISIX Admin
# API), one region's control plane breaks half-way through
# the next sync, and the same command brings it back in line. Run from the repository root after
# `make build`. KEEP=1 leaves everything running at the end (Ctrl-C stops it).
set -u
dir=.regions
rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT

# region NAME CP_PORT UPSTREAM_PORTS PROXY_PORT HTTPS_PORT STATUS_PORT METRICS_PORT ADMIN_LISTEN
region() {
	local name=$1 cp=$2 ups=$3 proxy=$4 https=$5 status=$6 metrics=$7 admin=$8
	bin/devcp -dir "$dir/$name-cp" -ports "$cp" -members 1 -seed=false -upstreams "$ups" -admin-listen "$admin" \
		>"$dir/$name-cp.log" 2>&1 &
	pids+=($!)
	eval "${name}_cp_pid=$!"
	cat >"$dir/$name.yaml" <<YAML
apisix:
  node_listen: [{ip: 127.0.0.1, port: $proxy}]
  status: {ip: 127.0.0.1, port: $status}
  ssl:
    ssl_trusted_certificate: $dir/$name-cp/ca.crt
    listen: [{ip: 127.0.0.1, port: $https}]
deployment:
  role: traditional
  role_traditional: {config_provider: etcd}
  etcd:
    host: ["https://127.0.0.1:$cp"]
    prefix: /apisix
    tls: {cert: $dir/$name-cp/client.crt, key: $dir/$name-cp/client.key}
plugin_attr:
  prometheus:
    export_addr: {ip: 127.0.0.1, port: $metrics}
zoneproxy:
  data_dir: $dir/$name-data
  probe_interval: 500ms
  log: {level: warn}
YAML
}
region eu 7951 127.0.0.1:1990,127.0.0.1:1991 9281 9481 7186 9191 ""
region us 7961 127.0.0.1:1992,127.0.0.1:1993 9282 9482 7187 9192 127.0.0.1:9195
for name in eu us; do
	until [ -f "$dir/$name-cp/client.key" ]; do sleep 0.2; done
done
until [ -f "$dir/us-cp/admin.key" ]; do sleep 0.2; done
export ZONEPROXY_ADMIN_KEY=$(cat "$dir/us-cp/admin.key")
bin/zoneproxy -c "$dir/eu.yaml" >"$dir/eu.log" 2>&1 & pids+=($!)
bin/zoneproxy -c "$dir/us.yaml" >"$dir/us.log" 2>&1 & pids+=($!)

sync() {
	echo "\$ zoneproxy sync $1 -f deploy/regions/apisix.yaml --target eu=etcd+https://127.0.0.1:7951 --target us=http://127.0.0.1:9195 ${*:2}"
	bin/zoneproxy sync "$1" -f deploy/regions/apisix.yaml \
		--cacert "eu=$dir/eu-cp/ca.crt" --cert "eu=$dir/eu-cp/client.crt" --key "eu=$dir/eu-cp/client.key" \
		--target eu=etcd+https://127.0.0.1:7951 --target us=http://127.0.0.1:9195 "${@:2}"
	echo "(exit $?)"
	echo
}
fingerprint() { curl -s "http://127.0.0.1:$1/status/control-plane" | sed -n 's/.*"config_fingerprint":"\([0-9a-f]*\)".*/\1/p'; }
# converge: wait (up to 20 s) until both data planes report the same fingerprint.
converge() {
	for _ in $(seq 100); do
		[ "$(fingerprint 7186)" = "$(fingerprint 7187)" ] && return
		sleep 0.2
	done
}
status() {
	for r in "eu 7186 9281" "us 7187 9282"; do
		set -- $r
		printf '%s: fingerprint %s, /version -> %s, ready?max_config_age=3s -> %s\n' "$1" \
			"$(fingerprint "$2")" \
			"$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$3/version")" \
			"$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$2/status/ready?max_config_age=3s")"
	done
	echo
}
for s in 7186 7187; do
	until curl -sf "http://127.0.0.1:$s/status" >/dev/null; do sleep 0.2; done
done
echo "== two regions up: eu (etcd :7951, proxy :9281, status :7186), us (etcd :7961 and Admin API :9195, proxy :9282, status :7187)"
echo
sync diff
sync apply
converge
status

echo "== CONFIG_VERSION=v2: us's control plane freezes (SIGSTOP) half-way through the sync"
export CONFIG_VERSION=v2
kill -STOP "$us_cp_pid"
sync apply --timeout 3s
sleep 4
status

echo "== us's control plane is back (SIGCONT); the same command again"
kill -CONT "$us_cp_pid"
sleep 2
sync apply
converge
status
sync diff

if [ "${KEEP:-}" = 1 ]; then
	echo "running; Ctrl-C stops everything. Logs in $dir/."
	wait
fi
