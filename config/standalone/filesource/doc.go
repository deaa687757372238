// Package filesource serves a standalone configuration file (APISIX's conf/apisix.yaml or
// apisix.json) as a configuration source: it reads the file, decodes it with config/standalone
// into the key/values a control plane would hold, and hands each new version to a sink as a
// *state.State, the same as the control-plane client does, so that one apply path serves both.
//
// The file is checked every Interval (APISIX polls its mtime every second) and, on Linux, also
// when inotify reports a change in its directory (a rename, a symlink swapped as Kubernetes
// does with a ConfigMap, a write closed). A change is a new mtime, size or file identity; a
// content identical to the one loaded (byte for byte) is not applied again. A file that cannot be
// read or decoded leaves the last good configuration in place, with a log line; objects the
// builder rejects are its business, one by one.
//
// Concurrency: Run is the one goroutine that reads the file and calls the sink; Status and State
// may be called from any goroutine.
package filesource
