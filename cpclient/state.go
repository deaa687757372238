package cpclient

import (
	"time"
)

// KV is one key of the control plane's store.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Source tells where a State came from.
type Source string

const (
	// SourceControlPlane is a State listed and watched from a control-plane endpoint.
	SourceControlPlane Source = "control_plane"
	// SourceSnapshot is a State read back from the snapshot file on disk.
	SourceSnapshot Source = "snapshot"
)

// State is the whole configuration under the prefix at one revision. A State handed out by this package
// is immutable: neither the Client nor the receiver may modify it.
type State struct {
	// Revision is the store revision this State reflects: every change up to it is applied.
	Revision int64
	// ClusterID identifies the store the State came from (0 when unknown).
	ClusterID uint64
	// KVs holds every key under the prefix, by full key.
	KVs KVs
	// Source is where the State came from; Endpoint the control-plane endpoint it was read from.
	Source   Source
	Endpoint string
	// Updated is when the Client last changed this State.
	Updated time.Time
	// Changed lists the keys put or deleted since the State of revision Previous that the same
	// Client handed out before (or that it was started from). It is nil when this State must be
	// taken whole: the first one, and after a full list.
	Changed  []string
	Previous int64
}

// Keys returns the keys of s in ascending byte order, the order in which etcd lists them.
func (s *State) Keys() []string { return s.KVs.Keys() }

// header is what every etcd response tells about the store.
type header struct {
	ClusterID uint64
	Revision  int64
}

type eventType uint8

const (
	eventPut eventType = iota
	eventDelete
)

// event is one change seen on a watch. For a delete, KV holds the key and the revision of the delete.
type event struct {
	Type eventType
	KV   KV
}
