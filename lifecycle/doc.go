// Package lifecycle runs one zoneproxy process from start to exit: it opens the listeners, starts
// the components in order (metrics, access log, memory policy, proxy, upstream registry, health
// checks, state file, control-plane client, status server), applies every configuration State
// the control plane or the state file hands over (build, swap, sync the upstream pools, save),
// reloads config.yaml on SIGHUP (what can change live is applied, the rest is reported as
// needing a restart), and drains on shutdown.
//
// It is the one place that knows every component; the components know nothing of one another
// beyond the interfaces they are handed. cmd/zoneproxy parses flags and calls Run.
//
// Concurrency: Run is called once per process and owns every goroutine it starts, all of which
// have stopped when it returns.
package lifecycle
