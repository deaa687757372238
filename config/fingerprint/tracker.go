package fingerprint

import (
	"github.com/zoneproxy/zoneproxy/config/state"
)

// Tracker keeps the fingerprint of a sequence of KVs up to date: each Update costs in proportion
// to what changed since the last (state.KVs.Diff skips the shards two KVs share), so a data plane
// can call it on every applied State. It keeps no hash per object: what an update replaces or
// deletes is hashed again from the last KVs, which the data plane holds anyway, so a large
// configuration costs it no memory of its own. The zero value is not usable: use NewTracker. A
// Tracker is not safe for concurrent use.
type Tracker struct {
	prefix string
	last   state.KVs
	set    Set
}

// NewTracker returns a Tracker of the objects under prefix.
func NewTracker(prefix string) *Tracker {
	return &Tracker{prefix: prefix}
}

// Update brings the fingerprint to kvs, the whole configuration now, and returns it.
func (t *Tracker) Update(kvs state.KVs) Digest {
	puts, dels := t.last.Diff(kvs)
	for _, k := range dels {
		t.remove(k)
	}
	for _, kv := range puts {
		t.remove(kv.Key)
		if h, ok := ObjectHash(t.prefix, kv.Key, kv.Value); ok {
			t.set.Add(h)
		}
	}
	t.last = kvs
	return t.set.Digest()
}

// Digest is the fingerprint as of the last Update.
func (t *Tracker) Digest() Digest { return t.set.Digest() }

// remove takes the object key had in the last KVs, if it counted, out of the set.
func (t *Tracker) remove(key string) {
	old, ok := t.last.Get(key)
	if !ok {
		return
	}
	if h, ok := ObjectHash(t.prefix, key, old.Value); ok {
		t.set.Remove(h)
	}
}
