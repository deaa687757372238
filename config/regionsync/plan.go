package regionsync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/zoneproxy/zoneproxy/config/fingerprint"
)

// Selector is a label selector: an object is selected when its labels hold every pair. An empty
// Selector selects everything.
type Selector map[string]string

// ParseSelector reads --label-selector values, each "k=v[,k=v...]"; all pairs must match.
func ParseSelector(specs []string) (Selector, error) {
	s := Selector{}
	for _, spec := range specs {
		for _, pair := range strings.Split(spec, ",") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if !ok || k == "" {
				return nil, fmt.Errorf("label selector %q: want key=value[,key=value]", spec)
			}
			if prev, dup := s[k]; dup && prev != v {
				return nil, fmt.Errorf("label selector: %s=%s and %s=%s cannot both hold", k, prev, k, v)
			}
			s[k] = v
		}
	}
	return s, nil
}

// Matches reports whether the object value carries every label of s.
func (s Selector) Matches(value []byte) bool {
	if len(s) == 0 {
		return true
	}
	var o struct {
		Labels map[string]any `json:"labels"`
	}
	if json.Unmarshal(value, &o) != nil {
		return false
	}
	for k, v := range s {
		if got, ok := o.Labels[k].(string); !ok || got != v {
			return false
		}
	}
	return true
}

// String is the selector as k=v pairs, sorted.
func (s Selector) String() string {
	pairs := make([]string, 0, len(s))
	for _, k := range sortedKeys(s) {
		pairs = append(pairs, k+"="+s[k])
	}
	return strings.Join(pairs, ",")
}

// Op is what a Change does.
type Op int

// The operations of a plan.
const (
	Create Op = iota
	Update
	Delete
)

func (o Op) String() string { return [...]string{"create", "update", "delete"}[o] }

// Change is one object to write or delete on a target.
type Change struct {
	Op  Op
	Key string // relative to the prefix
	// Old is the value on the target (Update, Delete), New the value to write (Create, Update).
	Old, New []byte
	// ModRevision is the key's mod revision as read (0 for a Create): the transaction's guard.
	ModRevision int64
}

// Remote is what a target holds: the objects that count (fingerprint.RelKey) with their mod
// revisions.
type Remote struct {
	Objects Objects
	Revs    map[string]int64
	// Revision is the store's revision at the read (0 when the target has none).
	Revision int64
	// HidesSSLKeys: the target never shows SSL private keys (an Admin API); SSL objects are
	// compared without key and keys.
	HidesSSLKeys bool
}

// Plan is the difference between the file and one target.
type Plan struct {
	Changes   []Change
	Unchanged int
	// Conflicts are objects of the file in scope that exist on the target out of scope: the plan
	// cannot be applied.
	Conflicts []string
	// Have is the target's fingerprint as read, Want its fingerprint once the plan is applied.
	Have, Want fingerprint.Digest
}

// Counts returns how many objects the plan creates, updates and deletes.
func (p *Plan) Counts() (created, updated, deleted int) {
	for _, c := range p.Changes {
		switch c.Op {
		case Create:
			created++
		case Update:
			updated++
		default:
			deleted++
		}
	}
	return
}

// order is the rank of a kind in the creation order: what is referenced first.
var order = []string{
	"secrets", "ssls", "protos", "upstreams", "services", "plugin_configs", "consumer_groups",
	"consumers", "credentials", "global_rules", "plugin_metadata", "routes", "stream_routes",
}

func rank(rel string) int {
	kind, id, _ := strings.Cut(rel, "/")
	if kind == "consumers" && strings.Contains(id, "/credentials/") {
		kind = "credentials"
	}
	if i := slices.Index(order, kind); i >= 0 {
		return i
	}
	return len(order)
}

// MakePlan compares desired with remote under sel. Values compare after normalisation
// (fingerprint.Canonical); a value on the target that is not a JSON object always differs.
func MakePlan(desired Objects, remote *Remote, sel Selector) *Plan {
	return makePlan(desired, canonicalAll(desired), remote, sel)
}

// canon is an object's normalised value and its digest, computed once per run for the file and
// once per read object.
type canon struct {
	value []byte
	hash  [32]byte
	ok    bool // a JSON object of a kind that counts
}

func canonical(rel string, v []byte) canon {
	if _, ok := fingerprint.RelKey("", "/"+rel); !ok {
		return canon{}
	}
	c, err := fingerprint.Canonical(v)
	if err != nil {
		return canon{}
	}
	return canon{value: c, hash: fingerprint.Hash(rel, c), ok: true}
}

func canonicalAll(objs Objects) map[string]canon {
	out := make(map[string]canon, len(objs))
	for rel, v := range objs {
		out[rel] = canonical(rel, v)
	}
	return out
}

func makePlan(desired Objects, dc map[string]canon, remote *Remote, sel Selector) *Plan {
	p := &Plan{}
	rc := canonicalAll(remote.Objects)
	var have fingerprint.Set
	for _, c := range rc {
		if c.ok {
			have.Add(c.hash)
		}
	}
	p.Have = have.Digest()
	want := have
	var puts, dels []Change
	for _, rel := range sortedKeys(desired) {
		v := desired[rel]
		if !sel.Matches(v) {
			continue
		}
		old, exists := remote.Objects[rel]
		switch {
		case !exists:
			puts = append(puts, Change{Op: Create, Key: rel, New: v})
		case !sel.Matches(old):
			p.Conflicts = append(p.Conflicts, rel)
			continue
		case rc[rel].ok && dc[rel].ok && bytes.Equal(rc[rel].value, dc[rel].value),
			remote.HidesSSLKeys && strings.HasPrefix(rel, "ssls/") && equalWithoutKeys(old, v):
			p.Unchanged++
			continue
		default:
			puts = append(puts, Change{Op: Update, Key: rel, Old: old, New: v, ModRevision: remote.Revs[rel]})
			if rc[rel].ok {
				want.Remove(rc[rel].hash)
			}
		}
		if dc[rel].ok {
			want.Add(dc[rel].hash)
		}
	}
	for _, rel := range sortedKeys(remote.Objects) {
		old := remote.Objects[rel]
		if _, ok := desired[rel]; ok || !sel.Matches(old) {
			continue
		}
		dels = append(dels, Change{Op: Delete, Key: rel, Old: old, ModRevision: remote.Revs[rel]})
		if rc[rel].ok {
			want.Remove(rc[rel].hash)
		}
	}
	slices.SortStableFunc(puts, func(a, b Change) int { return rank(a.Key) - rank(b.Key) })
	slices.SortStableFunc(dels, func(a, b Change) int { return rank(b.Key) - rank(a.Key) })
	p.Changes = append(puts, dels...)
	p.Want = want.Digest()
	return p
}

// equalWithoutKeys compares two SSL objects without their private keys.
func equalWithoutKeys(a, b []byte) bool {
	strip := func(v []byte) []byte {
		m, ok := rawObject(v)
		if !ok {
			return nil
		}
		delete(m, "key")
		delete(m, "keys")
		out, _ := marshal(m)
		c, err := fingerprint.Canonical(out)
		if err != nil {
			return nil
		}
		return c
	}
	ca, cb := strip(a), strip(b)
	return ca != nil && bytes.Equal(ca, cb)
}

// ObjectHash is fingerprint.ObjectHash for a relative key.
func ObjectHash(rel string, value []byte) ([32]byte, bool) {
	return fingerprint.ObjectHash("", "/"+rel, value)
}

// Fingerprint is the fingerprint of objects (relative keys).
func Fingerprint(objs Objects) fingerprint.Digest {
	var s fingerprint.Set
	for rel, v := range objs {
		if h, ok := ObjectHash(rel, v); ok {
			s.Add(h)
		}
	}
	return s.Digest()
}

// decodeJSON decodes v with exact numbers; v that does not decode is returned as a string, nil as
// nil.
func decodeJSON(v []byte) any {
	if v == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return string(v)
	}
	return x
}

// FieldDiff lists, one line per field, how old differs from new: "~ path: old -> new",
// "+ path: new", "- path: old". Objects are compared field by field, anything else whole;
// create_time, update_time and id at the top are left out.
func FieldDiff(old, new []byte) []string {
	a, b := decodeObject(old), decodeObject(new)
	var out []string
	diffValue(&out, "", a, b)
	return out
}

func decodeObject(v []byte) any {
	x := decodeJSON(v)
	if m, ok := x.(map[string]any); ok {
		delete(m, "create_time")
		delete(m, "update_time")
		delete(m, "id")
	}
	return x
}

func diffValue(out *[]string, path string, a, b any) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		for _, k := range sortedKeys(keys) {
			p := k
			if path != "" {
				p = path + "." + k
			}
			av, ain := am[k]
			bv, bin := bm[k]
			switch {
			case !ain:
				*out = append(*out, fmt.Sprintf("+ %s: %s", p, show(bv)))
			case !bin:
				*out = append(*out, fmt.Sprintf("- %s: %s", p, show(av)))
			default:
				diffValue(out, p, av, bv)
			}
		}
		return
	}
	if sa, sb := show(a), show(b); sa != sb {
		*out = append(*out, fmt.Sprintf("~ %s: %s -> %s", cmpOr(path, "(value)"), sa, sb))
	}
}

// show is v as canonical JSON, cut at 200 bytes.
func show(v any) string {
	b, err := marshal(normal(v))
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

func normal(v any) any {
	if n, ok := v.(json.Number); ok {
		if c, err := fingerprint.Canonical(fmt.Appendf(nil, `{"n":%s}`, n)); err == nil {
			return json.RawMessage(bytes.TrimSuffix(bytes.TrimPrefix(c, []byte(`{"n":`)), []byte("}")))
		}
	}
	return v
}

func cmpOr(a, b string) string {
	if a == "" {
		return b
	}
	return a
}
