package standalone

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// TestNextStateChanged: told the keys that changed (or more), NextStateChanged makes the State
// NextState makes by comparing every key.
func TestNextStateChanged(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	now := time.Unix(1, 0)
	var whole, told *state.State
	var prev map[string][]byte
	for step := range 300 {
		kvs := maps.Clone(prev)
		if kvs == nil {
			kvs = map[string][]byte{}
		}
		for range rnd.IntN(4) {
			k := fmt.Sprintf("/apisix/routes/%d", rnd.IntN(20))
			switch rnd.IntN(3) {
			case 0:
				delete(kvs, k)
			case 1:
				kvs[k] = fmt.Appendf(nil, `{"uri":"/%d"}`, step)
			case 2:
				kvs[k] = slices.Clone(kvs[k]) // the same value, another slice
			}
		}
		changed := diff(prev, kvs)
		if rnd.IntN(3) == 0 { // more than changed: harmless
			changed = append(append(changed, "/apisix/routes/0", "/apisix/routes/none"), changed...)
		}
		whole = NextState(whole, kvs, state.SourceFile, "f", now)
		told = NextStateChanged(told, kvs, changed, state.SourceFile, "f", now)
		if told.Revision != whole.Revision || told.Previous != whole.Previous ||
			!slices.Equal(told.Changed, whole.Changed) || (told.Changed == nil) != (whole.Changed == nil) {
			t.Fatalf("step %d: revision %d/%d changed %q, NextState's %d/%d %q", step,
				told.Revision, told.Previous, told.Changed, whole.Revision, whole.Previous, whole.Changed)
		}
		same := func(a, b state.KV) bool {
			return a.Key == b.Key && string(a.Value) == string(b.Value) && a.ModRevision == b.ModRevision
		}
		if !maps.EqualFunc(told.KVs.Map(), whole.KVs.Map(), same) {
			t.Fatalf("step %d: KVs %v, NextState's %v", step, told.KVs.Map(), whole.KVs.Map())
		}
		prev = kvs
	}
}
