package cpclient

import "github.com/zoneproxy/zoneproxy/config/state"

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
	KV   state.KV
}
