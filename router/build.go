package router

import (
	"errors"
	"strings"
)

// build is one run of New or Update: the table being made, which owns
// (may change in place) only the nodes and buckets this build created, and
// the host buckets it changed, in the order it first touched them.
type build struct {
	t       *Table
	own     *owner
	buckets map[string]*bucketChange // by host pattern (ModeHostURI)
	order   []*bucketChange
}

// bucketChange is a host bucket being rebuilt: old is the bucket in the
// table the build started from (nil: none), cur the new one.
type bucketChange struct {
	host *hostPattern
	old  *bucket
	cur  *bucket
}

func newBuild(t *Table) *build {
	return &build{t: t, own: new(owner)}
}

// errNotFound reports a removed route that is not in the table.
var errNotFound = errors.New("not in the table")

// add puts every candidate of route c in the table; seq is its build
// sequence number.
func (b *build) add(c *Compiled, seq int) {
	mode := b.t.mode
	if mode != ModeHostURI || c.hosts == nil {
		b.addPaths(&b.t.paths, c, seq, mode != ModeHostURI && c.hosts != nil)
		return
	}
	for i := range c.hosts {
		b.addPaths(&b.bucket(&c.hosts[i]).paths, c, seq, false)
	}
}

func (b *build) addPaths(tr *tree[*cand], c *Compiled, seq int, filterHosts bool) {
	for i := range c.paths {
		p := &c.paths[i]
		key, prefix := p.key(b.t.mode)
		cd := &cand{route: c, hosts: filterHosts, idx: int32(i), seq: seq}
		if prefix {
			cd.check = p.check(b.t.mode)
		}
		tr.add(b.own, key, !prefix, cd)
	}
}

// remove takes every candidate of one occurrence of route c out of the
// table: the one with the lowest sequence number when c was given twice.
func (b *build) remove(c *Compiled) error {
	trees := b.trees(c)
	// The candidates of one occurrence share its sequence number; find it
	// in the list of the route's first path.
	key, prefix := c.paths[0].key(b.t.mode)
	var list []*cand
	if prefix {
		list = trees[0].get(key)
	} else {
		list = trees[0].exact.current(key)
	}
	seq, found := 0, false
	for _, cd := range list {
		if cd.route == c && (!found || cd.seq < seq) {
			seq, found = cd.seq, true
		}
	}
	if !found {
		return errNotFound
	}
	match := func(cd *cand) bool { return cd.route == c && cd.seq == seq }
	for _, tr := range trees {
		for i := range c.paths {
			key, prefix := c.paths[i].key(b.t.mode)
			if !tr.remove(b.own, key, !prefix, match) {
				// The first list held the route, so every list must.
				return errors.New("internal error: route missing from one of its paths")
			}
		}
	}
	return nil
}

// trees returns the path trees that hold route c's candidates.
func (b *build) trees(c *Compiled) []*tree[*cand] {
	if b.t.mode != ModeHostURI || c.hosts == nil {
		return []*tree[*cand]{&b.t.paths}
	}
	trees := make([]*tree[*cand], len(c.hosts))
	for i := range c.hosts {
		trees[i] = &b.bucket(&c.hosts[i]).paths
	}
	return trees
}

// bucket returns the bucket of host pattern h that this build changes,
// starting it from the table's bucket for h, or an empty one.
func (b *build) bucket(h *hostPattern) *bucket {
	if ch := b.buckets[h.text]; ch != nil {
		return ch.cur
	}
	ch := &bucketChange{host: h}
	if b.t.hosts != nil {
		key, exact := hostKey(h)
		var list []*bucket
		if exact {
			list = b.t.hosts.exact.getString(key)
		} else {
			list = b.t.hosts.get(key)
		}
		if len(list) > 0 {
			ch.old = list[0]
		}
	}
	if ch.old != nil {
		ch.cur = &bucket{host: h.text, paths: ch.old.paths}
	} else {
		ch.cur = &bucket{host: h.text, paths: newTree[*cand](b.own)}
	}
	if b.buckets == nil {
		b.buckets = make(map[string]*bucketChange)
	}
	b.buckets[h.text] = ch
	b.order = append(b.order, ch)
	return ch.cur
}

// hostKey is the host tree key of a pattern: the name of an exact host,
// the reversed suffix of a wildcard one.
func hostKey(h *hostPattern) (key string, exact bool) {
	if h.wildcard {
		return reverse(h.suffix), false
	}
	return h.text, true
}

// finish sorts what the build changed and puts the changed buckets in the
// host tree; the table is then complete and read-only.
func (b *build) finish() {
	t := b.t
	t.paths.finish(b.own, compareCand)
	if len(b.order) > 0 {
		var hosts tree[*bucket]
		if t.hosts != nil {
			hosts = *t.hosts
		} else {
			hosts = newTree[*bucket](b.own)
		}
		for _, ch := range b.order {
			ch.cur.paths.finish(b.own, compareCand)
			key, exact := hostKey(ch.host)
			if ch.old != nil {
				old := ch.old
				hosts.remove(b.own, key, exact, func(x *bucket) bool { return x == old })
			}
			if !ch.cur.paths.empty() {
				hosts.add(b.own, key, exact, ch.cur)
			}
		}
		// A host key holds one bucket: the order is moot but total.
		hosts.finish(b.own, func(x, y *bucket) int { return strings.Compare(x.host, y.host) })
		t.hosts = nil
		if !hosts.empty() {
			t.hosts = &hosts
		}
	}
	t.vars.New = func() any { return new(reqVars) }
}
