// Package harness is `make bench`: it measures zoneproxy against nginx and against the bare upstream on
// this machine, with wrk, and prints and saves the figures.
//
// For each scenario it starts, on loopback, a real local control plane (cptest, one etcd member) holding
// the scenario's APISIX routes, zoneproxy following it, nginx with an equivalent generated
// configuration, and the benchmark upstream (package bench/upstream) twice: one copy is the backend of
// both proxies, the other is measured directly. The server under test is pinned to one CPU (taskset),
// wrk, the backend upstream, the control plane and the harness itself to the other. Each target gets a
// discarded warm-up run, then Options.Runs measured runs interleaved across targets, during which the
// harness samples the server's CPU time (/proc/<pid>/stat) and resident memory (/proc/<pid>/status).
// The churn scenarios run zoneproxy alone, quiet and under a stream of route updates.
//
// Concurrency: Run owns every goroutine and child process it starts and stops them before returning,
// also when its context is cancelled. The helpers are not meant for concurrent use.
package harness
