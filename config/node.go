package config

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decoder turns yaml.v3 nodes into typed values, collecting errors,
// warnings and the line of every key it reads.
type decoder struct {
	lookupEnv func(string) (string, bool)
	subst     map[*yaml.Node]substituted
	errs      []error
	warns     []string
	ignored   []string
	lines     map[string]int
}

func newDecoder(lookupEnv func(string) (string, bool)) *decoder {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	return &decoder{
		lookupEnv: lookupEnv,
		subst:     make(map[*yaml.Node]substituted),
		lines:     make(map[string]int),
	}
}

// field is one key of a mapping with its value.
type field struct {
	key  string
	path string
	k, v *yaml.Node
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}

func (d *decoder) errorf(path string, n *yaml.Node, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, &Error{Key: path, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) warnf(format string, args ...any) {
	d.warns = append(d.warns, fmt.Sprintf(format, args...))
}

// unknown warns about a key that neither zoneproxy nor APISIX knows.
func (d *decoder) unknown(f field) {
	d.warnf("unknown key %s (line %d) is ignored", f.path, f.k.Line)
}

// ignore records an APISIX key that zoneproxy does not use.
func (d *decoder) ignore(f field) {
	d.ignored = append(d.ignored, f.path)
}

// ignoreUnless records an ignored APISIX key and warns when its value
// differs from APISIX's default, because then zoneproxy behaves differently.
func (d *decoder) ignoreUnless(f field, def any) {
	d.ignore(f)
	v := deref(f.v)
	if v == nil || isNull(v) {
		return
	}
	if v.Kind == yaml.ScalarNode {
		switch def := def.(type) {
		case bool:
			if b, ok := scalarBool(v, d.subst[v]); ok && b == def {
				return
			}
		case string:
			if v.Value == def {
				return
			}
		}
	}
	d.warnf("%s (line %d) is not supported by zoneproxy and is ignored", f.path, f.k.Line)
}

// deref follows aliases.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// fields returns the keys of the mapping n in file order, with merge keys
// ("<<") resolved and, for a key given twice, the later value (as in
// APISIX, with a warning). A null n yields no fields; anything else that is
// not a mapping is an error.
func (d *decoder) fields(path string, n *yaml.Node) []field {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(path, n, "expected a mapping, got %s", d.describe(n))
		return nil
	}
	var out []field
	index := make(map[string]int)
	add := func(k, v *yaml.Node, merged bool) {
		key := k.Value
		if i, ok := index[key]; ok {
			if merged {
				return // a key given explicitly wins over a merged one
			}
			d.warnf("duplicate key %s (lines %d and %d): the later value is used", out[i].path, out[i].k.Line, k.Line)
			out[i] = field{key: key, path: out[i].path, k: k, v: v}
			return
		}
		index[key] = len(out)
		out = append(out, field{key: key, path: joinPath(path, key), k: k, v: v})
	}
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if k = deref(k); k == nil || k.Kind != yaml.ScalarNode {
			d.errorf(path, n.Content[i], "a key must be a scalar")
			continue
		}
		add(k, v, false)
	}
	for _, m := range merges {
		m = deref(m)
		var maps []*yaml.Node
		switch {
		case m != nil && m.Kind == yaml.MappingNode:
			maps = []*yaml.Node{m}
		case m != nil && m.Kind == yaml.SequenceNode:
			for _, e := range m.Content {
				maps = append(maps, deref(e))
			}
		default:
			maps = []*yaml.Node{nil} // reported below
		}
		for _, mm := range maps {
			if mm == nil || mm.Kind != yaml.MappingNode {
				d.errorf(path, m, "a merge key (<<) needs a mapping or a list of mappings")
				break
			}
			// One level of merge is enough for config files; nested merge
			// keys inside the merged mapping are not expanded again.
			for i := 0; i+1 < len(mm.Content); i += 2 {
				k := deref(mm.Content[i])
				if k == nil || k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
					continue
				}
				add(k, mm.Content[i+1], true)
			}
		}
	}
	for _, f := range out {
		d.lines[f.path] = f.k.Line
	}
	return out
}

// describe names the YAML type of n for error messages.
func (d *decoder) describe(n *yaml.Node) string {
	if sub, ok := d.subst[n]; ok {
		switch {
		case sub.isNum:
			return "number " + strconv.Quote(n.Value)
		case sub.isBool:
			return "boolean " + n.Value
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		}
		return "string " + strconv.Quote(n.Value)
	}
	return "an unexpected node"
}

// scalar returns the scalar value node of f, or nil when the value is null
// (meaning "not set"); a mapping or a list is an error.
func (d *decoder) scalar(path string, n *yaml.Node, want string) *yaml.Node {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(path, n, "expected %s, got %s", want, d.describe(n))
		return nil
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	return n
}

// str decodes a string. Numbers and booleans are taken as written.
func (d *decoder) str(path string, n *yaml.Node, dst *string) {
	if s := d.scalar(path, n, "a string"); s != nil {
		*dst = s.Value
	}
}

func scalarBool(n *yaml.Node, sub substituted) (bool, bool) {
	if sub.isBool || n.ShortTag() == "!!bool" {
		switch n.Value {
		case "true", "True", "TRUE":
			return true, true
		case "false", "False", "FALSE":
			return false, true
		}
	}
	// YAML 1.1 booleans, which APISIX's YAML parser (lyaml) understands.
	if n.ShortTag() == "!!str" && n.Style == 0 {
		switch n.Value {
		case "yes", "Yes", "YES", "on", "On", "ON":
			return true, true
		case "no", "No", "NO", "off", "Off", "OFF":
			return false, true
		}
	}
	return false, false
}

// boolean decodes true/false (and YAML 1.1's yes/no/on/off).
func (d *decoder) boolean(path string, n *yaml.Node, dst *bool) {
	s := d.scalar(path, n, "a boolean")
	if s == nil {
		return
	}
	b, ok := scalarBool(s, d.subst[s])
	if !ok {
		d.errorf(path, s, "expected a boolean, got %s", d.describe(s))
		return
	}
	*dst = b
}

// onOff decodes an nginx flag: "on" or "off" in any letter case, quoted or not (APISIX writes
// the string into nginx.conf), or a boolean.
func (d *decoder) onOff(path string, n *yaml.Node, dst *bool) {
	s := d.scalar(path, n, `"on" or "off"`)
	if s == nil {
		return
	}
	if s.ShortTag() == "!!str" {
		switch strings.ToLower(strings.TrimSpace(s.Value)) {
		case "on":
			*dst = true
			return
		case "off":
			*dst = false
			return
		}
	}
	if b, ok := scalarBool(s, d.subst[s]); ok {
		*dst = b
		return
	}
	d.errorf(path, s, `expected "on" or "off", got %s`, d.describe(s))
}

// number returns the value of a numeric scalar.
func (d *decoder) number(s *yaml.Node) (float64, bool) {
	if sub, ok := d.subst[s]; ok {
		return sub.num, sub.isNum
	}
	switch s.ShortTag() {
	case "!!int":
		var i int64
		if err := s.Decode(&i); err == nil {
			return float64(i), true
		}
		fallthrough
	case "!!float":
		var f float64
		if err := s.Decode(&f); err == nil {
			return f, true
		}
	}
	return 0, false
}

// integer decodes a whole number.
func (d *decoder) integer(path string, n *yaml.Node, dst *int) {
	s := d.scalar(path, n, "an integer")
	if s == nil {
		return
	}
	f, ok := d.number(s)
	if !ok || f != math.Trunc(f) {
		d.errorf(path, s, "expected an integer, got %s", d.describe(s))
		return
	}
	if f > math.MaxInt32 || f < math.MinInt32 {
		d.errorf(path, s, "%s is out of range", s.Value)
		return
	}
	*dst = int(f)
}

// seconds converts a number of seconds to a duration.
func seconds(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%v is not a duration", f)
	}
	ns := f * float64(time.Second)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("%v seconds is out of range", f)
	}
	return time.Duration(math.Round(ns)), nil
}

// duration decodes a number of seconds (possibly fractional, as APISIX's
// settings are) or a Go duration string such as "250ms".
func (d *decoder) duration(path string, n *yaml.Node, dst *time.Duration) {
	const want = `a duration such as "250ms" or a number of seconds`
	s := d.scalar(path, n, want)
	if s == nil {
		return
	}
	f, ok := d.number(s)
	if !ok && s.ShortTag() == "!!str" {
		v := strings.TrimSpace(s.Value)
		if g, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "_xXpPiInN") {
			f, ok = g, true
		} else if dd, err := time.ParseDuration(v); err == nil {
			*dst = dd
			return
		}
	}
	if !ok {
		d.errorf(path, s, "expected %s, got %s", want, d.describe(s))
		return
	}
	dd, err := seconds(f)
	if err != nil {
		d.errorf(path, s, "%v", err)
		return
	}
	*dst = dd
}

// fraction decodes a number or a percentage string such as "50%".
func (d *decoder) fraction(path string, n *yaml.Node, dst *float64) {
	const want = `a fraction between 0 and 1 or a percentage such as "50%"`
	s := d.scalar(path, n, want)
	if s == nil {
		return
	}
	f, ok := d.number(s)
	if !ok && s.ShortTag() == "!!str" {
		v := strings.TrimSpace(s.Value)
		pct := strings.HasSuffix(v, "%")
		v = strings.TrimSpace(strings.TrimSuffix(v, "%"))
		if g, err := strconv.ParseFloat(v, 64); err == nil && !strings.ContainsAny(v, "_xXpPiInN") {
			f, ok = g, true
			if pct {
				f /= 100
			}
		}
	}
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(path, s, "expected %s, got %s", want, d.describe(s))
		return
	}
	*dst = f
}

// list returns the elements of a list, or nil when the value is null.
func (d *decoder) list(path string, n *yaml.Node, want string) ([]*yaml.Node, bool) {
	n = deref(n)
	if n == nil || isNull(n) {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(path, n, "expected %s, got %s", want, d.describe(n))
		return nil, false
	}
	return n.Content, true
}

// strList decodes a list of strings; a null value leaves dst unchanged.
func (d *decoder) strList(path string, n *yaml.Node, dst *[]string) {
	items, ok := d.list(path, n, "a list of strings")
	if !ok {
		return
	}
	out := make([]string, 0, len(items))
	good := true
	for i, it := range items {
		p := indexPath(path, i)
		s := deref(it)
		if s == nil || s.Kind != yaml.ScalarNode || isNull(s) {
			if s == nil {
				s = it
			}
			d.errorf(p, s, "expected a string, got %s", d.describe(s))
			good = false
			continue
		}
		d.lines[p] = s.Line
		out = append(out, s.Value)
	}
	if good {
		*dst = out
	}
}

// sortedUnique sorts ss and drops duplicates.
func sortedUnique(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// size decodes a size in bytes as nginx writes them: a number, or a number with k, m or g (either
// case) for KiB, MiB and GiB.
func (d *decoder) size(path string, n *yaml.Node, dst *int64) {
	const want = `a size such as "1m", "512k" or a number of bytes`
	s := d.scalar(path, n, want)
	if s == nil {
		return
	}
	v := strings.TrimSpace(s.Value)
	mult := int64(1)
	if v != "" {
		switch v[len(v)-1] {
		case 'k', 'K':
			mult, v = 1<<10, v[:len(v)-1]
		case 'm', 'M':
			mult, v = 1<<20, v[:len(v)-1]
		case 'g', 'G':
			mult, v = 1<<30, v[:len(v)-1]
		}
	}
	num, err := strconv.ParseInt(v, 10, 64)
	if err != nil || num < 0 || num > math.MaxInt64/mult {
		d.errorf(path, s, "expected %s, got %s", want, d.describe(s))
		return
	}
	*dst = num * mult
}
