package router

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Dump writes a readable, deterministic description of the table: each
// host bucket and path tree key with its candidates in the order Match
// tries them. It is a debugging aid (and the golden test's subject); the
// format may change.
func (t *Table) Dump(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "mode %s, %d routes\n", t.mode, t.routes)
	if t.hosts != nil {
		for _, host := range sortedKeys(&t.hosts.exact) {
			for _, b := range t.hosts.exact.getString(host) {
				fmt.Fprintf(bw, "host %s (exact)\n", b.host)
				dumpPaths(bw, &b.paths, "  ")
			}
		}
		walkSorted(t.hosts.root, "", func(key string, n *node[*bucket]) {
			for _, b := range n.starts {
				fmt.Fprintf(bw, "host %s (suffix %q)\n", b.host, reverse(key))
				dumpPaths(bw, &b.paths, "  ")
			}
		})
	}
	fmt.Fprintf(bw, "any host\n")
	dumpPaths(bw, &t.paths, "  ")
	return bw.Flush()
}

// dumpPaths lists exact keys, then prefix keys, each in key order.
func dumpPaths(w io.Writer, tr *tree[*cand], indent string) {
	for _, key := range sortedKeys(&tr.exact) {
		for _, c := range tr.exact.getString(key) {
			fmt.Fprintf(w, "%s= %q %s\n", indent, key, c.describe())
		}
	}
	walkSorted(tr.root, "", func(key string, n *node[*cand]) {
		for _, c := range n.starts {
			fmt.Fprintf(w, "%s^ %q %s\n", indent, key, c.describe())
		}
	})
}

func sortedKeys[T any](m *exactMap[T]) []string {
	keys := make([]string, 0, m.len())
	m.all(func(k string, _ []T) { keys = append(keys, k) })
	slices.Sort(keys)
	return keys
}

// walkSorted visits n, whose key is prefix+n.label, and its subtree in key
// order.
func walkSorted[T any](n *node[T], prefix string, visit func(key string, n *node[T])) {
	key := prefix + n.label
	visit(key, n)
	children := slices.Clone(n.kids())
	slices.SortFunc(children, func(a, b *node[T]) int { return strings.Compare(a.label, b.label) })
	for _, c := range children {
		walkSorted(c, key, visit)
	}
}

func (c *cand) describe() string {
	r := c.route
	var b strings.Builder
	fmt.Fprintf(&b, "route=%s uri=%q", r.id, c.spec().path)
	if r.priority != 0 {
		fmt.Fprintf(&b, " priority=%d", r.priority)
	}
	if r.methods != 0 {
		var ms []string
		for i := 0; i < 10; i++ {
			if r.methods&(1<<i) != 0 {
				ms = append(ms, methodName(i))
			}
		}
		fmt.Fprintf(&b, " methods=%s", strings.Join(ms, ","))
	}
	if c.hosts {
		var hs []string
		for _, h := range r.hosts {
			hs = append(hs, h.text)
		}
		fmt.Fprintf(&b, " hosts=%s", strings.Join(hs, ","))
	}
	if r.remote != nil {
		fmt.Fprintf(&b, " remote=%s", r.remote)
	}
	switch c.check {
	case checkNever:
		b.WriteString(" check=invalid")
	case checkRegex:
		fmt.Fprintf(&b, " check=%s", c.spec().re)
	}
	if r.vars != nil {
		fmt.Fprintf(&b, " vars=%s", r.vars)
	}
	return b.String()
}
