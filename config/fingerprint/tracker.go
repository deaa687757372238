package fingerprint

import (
	"crypto/sha256"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// Tracker keeps the fingerprint of a sequence of KVs up to date: each Update costs in proportion
// to what changed since the last (state.KVs.Diff skips the shards two KVs share), so a data plane
// can call it on every applied State. The zero value is not usable: use NewTracker. A Tracker is
// not safe for concurrent use.
type Tracker struct {
	prefix string
	last   state.KVs
	hashes map[string][sha256.Size]byte // by full key, objects that count only
	set    Set
}

// NewTracker returns a Tracker of the objects under prefix.
func NewTracker(prefix string) *Tracker {
	return &Tracker{prefix: prefix, hashes: map[string][sha256.Size]byte{}}
}

// Update brings the fingerprint to kvs, the whole configuration now, and returns it.
func (t *Tracker) Update(kvs state.KVs) Digest {
	puts, dels := t.last.Diff(kvs)
	for _, k := range dels {
		t.del(k)
	}
	for _, kv := range puts {
		t.del(kv.Key)
		if h, ok := ObjectHash(t.prefix, kv.Key, kv.Value); ok {
			t.hashes[kv.Key] = h
			t.set.Add(h)
		}
	}
	t.last = kvs
	return t.set.Digest()
}

// Digest is the fingerprint as of the last Update.
func (t *Tracker) Digest() Digest { return t.set.Digest() }

func (t *Tracker) del(key string) {
	if h, ok := t.hashes[key]; ok {
		t.set.Remove(h)
		delete(t.hashes, key)
	}
}
