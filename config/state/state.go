package state

import "time"

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
	// SourceStateFile is a State read back from the state file on disk (config/statefile): the
	// last configuration applied before the process started.
	SourceStateFile Source = "state_file"
	// SourceFile is a State read from a standalone configuration file (APISIX's conf/apisix.yaml,
	// config/standalone/filesource).
	SourceFile Source = "file"
	// SourceAdmin is a State pushed to the standalone Admin API (PUT /apisix/admin/configs).
	SourceAdmin Source = "admin_api"
)

// State is the whole configuration under the prefix at one revision. A State handed out is
// immutable: neither its producer nor its receiver may modify it.
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
	// Updated is when the producer last changed this State.
	Updated time.Time
	// Changed lists the keys put or deleted since the State of revision Previous that the same
	// producer handed out before (or that it was started from). It is nil when this State must
	// be taken whole: the first one, and after a full list.
	Changed  []string
	Previous int64
}

// Keys returns the keys of s in ascending byte order, the order in which etcd lists them.
func (s *State) Keys() []string { return s.KVs.Keys() }
