// Package cpclient keeps a local copy of the control plane's configuration: every key under the
// APISIX prefix of an etcd v3 store, at one revision, delivered as immutable States.
//
// The control plane is reached through a list of endpoints in order of preference (one DP Manager per
// availability zone, the local one first). The Client uses one endpoint at a time: the first healthy one.
// Every endpoint is probed in the background, so a failed endpoint is left quickly and the next one is
// known good before it is needed; a more preferred endpoint that has been healthy for the fail-back hold
// time is taken back.
//
// Changes are applied exactly once, in revision order. The Client lists the prefix at one revision R,
// watches from R+1 and tracks the last revision it applied; after a switch it resumes the watch from that
// revision + 1 on the new endpoint. When that revision was compacted, when the endpoint's revision is
// behind ours or its cluster differs, it lists the whole prefix again and replaces its copy, deletions
// included.
//
// The Client knows nothing of APISIX objects or of the proxy: it hands each new State to a Sink, which
// decodes, validates and compiles it. Bursts of watch events are coalesced into one State.
//
// Concurrency: a Client is safe for concurrent use; Run is called once and owns every goroutine the
// Client starts, all of which stop when its context is cancelled. States handed to the Sink are never
// modified afterwards.
package cpclient
