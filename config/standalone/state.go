package standalone

import (
	"bytes"
	"slices"
	"sort"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// NextState returns the State that follows prev (nil for the first) with kvs as its whole
// configuration: its revision is prev's plus one, a key whose value did not change keeps its mod
// revision (so that the builder compiles only what changed), and Changed lists the keys put or
// deleted (nil for the first State).
func NextState(prev *state.State, kvs map[string][]byte, src state.Source, endpoint string, updated time.Time) *state.State {
	rev := int64(1)
	var old state.KVs
	if prev != nil {
		rev, old = prev.Revision+1, prev.KVs
	}
	b := state.BuilderOf(old)
	changed := []string{}
	for k := range old.All() {
		if _, ok := kvs[k]; !ok {
			changed = append(changed, k)
		}
	}
	for _, k := range changed {
		b.Delete(k)
	}
	for k, v := range kvs {
		if kv, ok := old.Get(k); ok && bytes.Equal(kv.Value, v) {
			continue
		}
		b.Set(k, state.KV{Value: v, ModRevision: rev})
		changed = append(changed, k)
	}
	st := &state.State{Revision: rev, KVs: b.Freeze(), Source: src, Endpoint: endpoint, Updated: updated}
	if prev != nil {
		sort.Strings(changed)
		st.Changed, st.Previous = changed, prev.Revision
	}
	return st
}

// NextStateChanged is NextState when the keys in which kvs differs from prev's KVs are known:
// changed lists them (more is harmless, fewer is wrong), so that the cost is in proportion to
// the change, not to the configuration. A Decoder's Decode returns such a list.
func NextStateChanged(prev *state.State, kvs map[string][]byte, changed []string, src state.Source, endpoint string, updated time.Time) *state.State {
	if prev == nil {
		return NextState(nil, kvs, src, endpoint, updated)
	}
	rev := prev.Revision + 1
	b := state.BuilderOf(prev.KVs)
	out := make([]string, 0, len(changed))
	for _, k := range changed {
		v, ok := kvs[k]
		old, had := prev.KVs.Get(k)
		switch {
		case !ok && had:
			b.Delete(k)
		case ok && (!had || !bytes.Equal(old.Value, v)):
			b.Set(k, state.KV{Value: v, ModRevision: rev})
		default:
			continue
		}
		out = append(out, k)
	}
	sort.Strings(out)
	out = slices.Compact(out)
	return &state.State{Revision: rev, KVs: b.Freeze(), Source: src, Endpoint: endpoint, Updated: updated,
		Changed: out, Previous: prev.Revision}
}
