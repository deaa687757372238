package standalone

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// checker runs a Decoder and checks each of its results against Decode's.
type checker struct {
	dec  Decoder
	last map[string][]byte // a copy of the last result without error
}

var testEnv = func(k string) (string, bool) {
	if k == "UP" {
		return "127.0.0.1:9", true
	}
	return "", false
}

// sameAsDecode checks that c's Decoder gives exactly what Decode gives for data, and that the
// keys it says changed are those in which the result differs from the last one.
func sameAsDecode(t *testing.T, c *checker, data string) {
	t.Helper()
	if err := c.check([]byte(data)); err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
}

func (c *checker) check(data []byte) error {
	wantKV, wantW, wantErr := Decode(data, YAML, "/apisix", testEnv, true)
	gotKV, changed, gotW, gotErr := c.dec.Decode(data, YAML, "/apisix", testEnv, true)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		return fmt.Errorf("error %v, Decode's %v", gotErr, wantErr)
	}
	if !maps.EqualFunc(gotKV, wantKV, bytes.Equal) {
		return fmt.Errorf("key/values %s, Decode's %s", dump(gotKV), dump(wantKV))
	}
	if !sameWarnings(gotW, wantW) {
		return fmt.Errorf("warnings %v, Decode's %v", gotW, wantW)
	}
	if gotErr != nil {
		return nil
	}
	want := diff(c.last, wantKV)
	slices.Sort(want)
	got := slices.Clone(changed)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		return fmt.Errorf("changed %q, want %q", got, want)
	}
	c.last = maps.Clone(wantKV)
	return nil
}

func dump(kvs map[string][]byte) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(kvs)) {
		fmt.Fprintf(&b, "\n  %s = %s", k, kvs[k])
	}
	return b.String()
}

// TestDecoderSameAsDecode: on files it cuts and on files it parses whole, valid or not, the
// Decoder's result is Decode's, whatever version it decoded before.
func TestDecoderSameAsDecode(t *testing.T) {
	docs := []string{
		"routes:\n  - id: 1\n    uri: /a\n    upstream_id: u\nupstreams:\n  - id: u\n    nodes:\n      \"${{UP}}\": 1\n#END\n",
		"routes:\n- id: 1\n  uri: /a\n- uri: /b\n  # a comment\n  methods: [GET]\nplugins:\n  - name: key-auth\n#END\n",
		"routes:\n  - id: 1\n    uri: /a\n  - id: 1\n    uri: /dup\nroutes_conf_version: 3\n#END\n",
		"routes:\n\nupstreams: []\nconsumers:\n  - username: jack\n    plugins: {key-auth: {key: k}}\n  - id: jack/credentials/cred-one\n    plugins: {key-auth: {key: k2}}\n#END\n",
		"routes:\n  - id: 1\n    uri: /a\n    desc: |\n      two\n      lines\n  - 5\n  - id: a/b\n#END\n",
		"routes:\n  - &r {id: 1, uri: /a}\n  - *r\n#END\n",
		"routes:\n  - id: 1\n    uri: [unclosed\n#END\n",
		"routes:\n  - id: 1\n   uri: /bad-indent\n#END\n",
		"routes:\n  - id: 1\nroutes:\n  - id: 2\n#END\n",
		"routes: [{id: 1, uri: /flow}]\n#END\n",
		"unknown: 1\nroutes:\n  - id: 1\n    uri: /x\n    vars: [[\"arg_a\", \"==\", \"*\"]]\n#END\n",
		"routes:\n  - id: 1\n    uri: ${{UNSET}}\n#END\n",
		"routes:\n  - id: 1\n    uri: /no-end\n",
		"",
		"#END\n",
		// As deep as the whole parse allows, and one level deeper: an entry parsed alone counts
		// its depth in the file.
		"routes:\n  - id: 1\n    x: " + strings.Repeat("[", 198) + strings.Repeat("]", 198) + "\n#END\n",
		"routes:\n  - id: 1\n    x: " + strings.Repeat("[", 199) + strings.Repeat("]", 199) + "\n#END\n",
	}
	for i, d := range docs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var c checker
			sameAsDecode(t, &c, d)
			sameAsDecode(t, &c, d) // from its own cache
			for _, other := range docs {
				var c2 checker
				sameAsDecode(t, &c2, other)
				sameAsDecode(t, &c2, d) // after another version
				sameAsDecode(t, &c2, other)
			}
		})
	}
}

// TestDecoderReuses: one route changed in 1,000 is the only entry parsed again.
func TestDecoderReuses(t *testing.T) {
	v1 := string(routesYAML(1000))
	v2 := strings.Replace(v1, "uri: /api/v1/r500/*", "uri: /changed", 1)
	var c checker
	dec := &c.dec
	sameAsDecode(t, &c, v1)
	if dec.Parsed != 1001 || dec.Reused != 0 {
		t.Errorf("first version: parsed %d reused %d, want 1001 and 0", dec.Parsed, dec.Reused)
	}
	sameAsDecode(t, &c, v2)
	if dec.Parsed != 1 || dec.Reused != 1000 {
		t.Errorf("one route changed: parsed %d reused %d, want 1 and 1000", dec.Parsed, dec.Reused)
	}
	// Entries moved, removed, and without ids (arr_<n> follows the position): still Decode's.
	v3 := strings.Replace(v2, "  - id: \"00001\"\n", "  - uri: /no-id\n  - id: \"00001\"\n", 1)
	v3 = strings.Replace(v3, "  - id: \"00002\"\n    uri: /api/v1/r2/*\n    methods: [GET]\n    upstream_id: u1\n", "", 1)
	for _, v := range []string{v3, v1, v3, v2} {
		sameAsDecode(t, &c, v)
	}
	if dec.Parsed != 1 {
		t.Errorf("v2 after v3: parsed %d entries, want 1 (the one v3 removed; only the previous version is kept)", dec.Parsed)
	}
}

// FuzzDecoderSameAsDecode: after any version, the Decoder's result for another is Decode's,
// and so is its result for the first one again.
func FuzzDecoderSameAsDecode(f *testing.F) {
	f.Add("routes:\n  - id: 1\n    uri: /a\n#END\n", "routes:\n  - id: 1\n    uri: /b\n  - id: 2\n    uri: /a\n#END\n")
	f.Add("routes:\n- uri: /a\n- uri: /b\n#END\n", "routes:\n- uri: /b\n- uri: /a\nupstreams:\n  - id: u\n#END\n")
	f.Add("consumers:\n  - username: a\n  - id: a/credentials/credential-1\n#END\n", "routes:\n  -\n    id: 1\n#END\n")
	f.Add("routes:\n  - id: 1\n    desc: |\n      x\n#END\n", "routes:\n  - id: 1\n    desc: >\n   x\n#END\n")
	f.Add("routes:\n  - id: 1\n  - id: 2\n  - uri: /x\n#END\n", "routes:\n  - id: 2\n  - id: 1\n  - id: 1\n  - uri: /x\n#END\n")
	f.Add("routes: []\nplugins:\n  - name: a\n#END\n", "routes:\n  - id: 1\nplugins: []\nssls: [{id: s}]\n#END\n")
	f.Fuzz(func(t *testing.T, prev, cur string) {
		var c checker
		for _, v := range []string{prev, cur, prev, cur} {
			if err := c.check([]byte(v)); err != nil {
				t.Fatalf("%v\nafter %q\nthis %q", err, prev, v)
			}
		}
	})
}

// sameWarnings compares warnings in any order: Decode lists unknown top-level keys in the order
// of a map's iteration.
func sameWarnings(a, b []Warning) bool {
	key := func(ws []Warning) []string {
		out := make([]string, len(ws))
		for i, w := range ws {
			out[i] = w.String()
		}
		slices.Sort(out)
		return out
	}
	return reflect.DeepEqual(key(a), key(b))
}

// editFile is a YAML file as a list of route entries, plus what surrounds them, for the tests
// that edit one entry at a time.
type editFile struct {
	head    string   // before "routes:"
	tail    string   // after head (not at the end: the last entry's text runs to #END)
	routes  []string // each an entry's text, "  - ...\n" lines
	noEnd   bool
	comment bool // a comment line after the first route
}

func (f editFile) String() string {
	var b strings.Builder
	b.WriteString(f.head)
	b.WriteString(f.tail)
	b.WriteString("routes:\n")
	for i, r := range f.routes {
		b.WriteString(r)
		if i == 0 && f.comment {
			b.WriteString("  # a comment\n\n")
		}
	}
	if !f.noEnd {
		b.WriteString("#END\n")
	}
	return b.String()
}

// distinct is how many different entries' texts f has (the upstream's included).
func (f editFile) distinct() int {
	texts := map[string]bool{}
	for i, r := range f.routes {
		if i == 0 && f.comment {
			r += "#"
		}
		if i == len(f.routes)-1 {
			r += "#END"
		}
		texts[r] = true
	}
	return len(texts) + 1
}

func route(id, uri string) string {
	if id == "" {
		return fmt.Sprintf("  - uri: %s\n    upstream_id: u1\n", uri)
	}
	return fmt.Sprintf("  - id: %s\n    uri: %s\n    upstream_id: u1\n", id, uri)
}

func baseFile(n int) editFile {
	f := editFile{head: "upstreams:\n  - id: u1\n    nodes:\n      \"${{UP}}\": 1\n"}
	for i := range n {
		f.routes = append(f.routes, route(fmt.Sprintf("r%d", i), fmt.Sprintf("/r%d", i)))
	}
	return f
}

// TestDecoderEdits: one edit at a time, each version's result is Decode's, the keys said to
// have changed are those that did, and only the entries whose text is new are parsed.
func TestDecoderEdits(t *testing.T) {
	type step struct {
		name    string
		edit    func(f *editFile)
		parsed  int      // entries parsed; whole: the file is parsed whole; all: every entry parsed
		changed []string // the keys said to have changed (nil: not checked beyond Decode's)
	}
	const whole, all = -1, -2
	steps := []step{
		{"one route changed", func(f *editFile) { f.routes[10] = route("r10", "/ten") }, 1,
			[]string{"/apisix/routes/r10"}},
		{"added at the start", func(f *editFile) { f.routes = slices.Insert(f.routes, 0, route("new0", "/n0")) }, 1,
			[]string{"/apisix/routes/new0"}},
		{"added at the end (the last entry's text, up to #END, is new too)", func(f *editFile) {
			f.routes = append(f.routes, route("new1", "/n1"))
		}, 2, []string{"/apisix/routes/new1"}},
		{"added in the middle", func(f *editFile) { f.routes = slices.Insert(f.routes, 20, route("new2", "/n2")) }, 1,
			[]string{"/apisix/routes/new2"}},
		{"removed", func(f *editFile) { f.routes = slices.Delete(f.routes, 5, 6) }, 0,
			[]string{"/apisix/routes/r4"}},
		{"two swapped", func(f *editFile) { f.routes[3], f.routes[40] = f.routes[40], f.routes[3] }, 0, []string{}},
		{"reversed", func(f *editFile) { slices.Reverse(f.routes) }, 2, []string{}},
		{"a comment added", func(f *editFile) { f.comment = true }, 1, []string{}},
		{"entries without ids inserted", func(f *editFile) {
			f.routes = slices.Insert(f.routes, 30, route("", "/anon-a"), route("", "/anon-b"))
		}, 2, []string{"/apisix/routes/arr_31", "/apisix/routes/arr_32"}},
		{"one before them: their ids move", func(f *editFile) { f.routes = slices.Insert(f.routes, 1, route("new3", "/n3")) }, 1,
			[]string{"/apisix/routes/arr_31", "/apisix/routes/arr_32", "/apisix/routes/arr_33", "/apisix/routes/new3"}},
		// A copy of an entry elsewhere is parsed: only the entries in between the unchanged
		// start and end of the list are looked up by their text.
		{"two entries with the same text, no id", func(f *editFile) { f.routes = slices.Insert(f.routes, 8, route("", "/anon-a")) }, 1,
			nil},
		{"two entries with the same text and id", func(f *editFile) { f.routes = slices.Insert(f.routes, 8, f.routes[20]) }, 1, nil},
		{"the duplicate changed", func(f *editFile) { f.routes[8] = strings.Replace(f.routes[8], "uri:", "desc: dup\n    uri:", 1) }, 1,
			nil},
		{"the duplicate gone", func(f *editFile) { f.routes = slices.Delete(f.routes, 8, 9) }, 0, nil},
		{"an id changed to another's", func(f *editFile) { f.routes[12] = route("r13", "/twelve") }, 1, nil},
		{"and back (only the last version's entries are kept)", func(f *editFile) { f.routes[12] = route("r12", "/r12") }, 1, nil},
		{"an anchor added: parsed whole", func(f *editFile) {
			f.routes[0] = "  - id: r0\n    uri: /r0\n    upstream: &up {nodes: {\"127.0.0.1:1\": 1}}\n"
			f.routes[1] = "  - id: r1\n    uri: /r1\n    upstream: *up\n"
		}, whole, nil},
		{"the anchor removed: every entry parsed again", func(f *editFile) {
			f.routes[0], f.routes[1] = route("r0", "/r0"), route("r1", "/r1")
		}, all, nil},
		{"a plugins list", func(f *editFile) { f.tail = "plugins:\n  - name: key-auth\n" }, 0,
			[]string{"/apisix/plugins"}},
		{"the plugins list changed", func(f *editFile) { f.tail = "plugins:\n  - name: limit-count\n" }, 0,
			[]string{"/apisix/plugins"}},
		{"a flow list and an unknown key", func(f *editFile) {
			f.tail = "ssls: [{id: s1, snis: [a.example]}]\nunknown: 1\n"
		}, 0, []string{"/apisix/plugins", "/apisix/ssls/s1"}},
		{"routes in the flow list: the key twice", func(f *editFile) { f.tail = "routes: []\n" }, whole, nil},
		{"a file error keeps the last version", func(f *editFile) { f.tail = ""; f.noEnd = true }, 0, nil},
		{"the next version is compared with the last good one", func(f *editFile) {
			f.noEnd = false
			f.routes[2] = route("r2", "/two")
		}, all, nil},
		{"the upstream's variable", func(f *editFile) { f.head = strings.Replace(f.head, "${{UP}}", "${{UP2:=127.0.0.1:2}}", 1) },
			1, []string{"/apisix/upstreams/u1"}},
	}
	f := baseFile(50)
	var c checker
	sameAsDecode(t, &c, f.String())
	if c.dec.Parsed != 51 {
		t.Fatalf("first version: %d entries parsed, want 51", c.dec.Parsed)
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.edit(&f)
			before := maps.Clone(c.last)
			text := f.String()
			sameAsDecode(t, &c, text)
			if f.noEnd {
				return
			}
			d := &c.dec
			switch want := s.parsed; {
			case want == whole && (d.Parsed != 0 || d.Reused != 0 || d.ParsedBytes < len(text)-20):
				t.Errorf("%d entries parsed, %d reused, %d bytes of %d: want the file parsed whole", d.Parsed, d.Reused, d.ParsedBytes, len(text))
			case want == all && (d.Parsed != f.distinct() || d.Parsed+d.Reused != len(f.routes)+1):
				t.Errorf("%d entries parsed, %d reused: want all %d distinct ones parsed", d.Parsed, d.Reused, f.distinct())
			case want >= 0 && (d.Parsed != want || d.Parsed+d.Reused != len(f.routes)+1):
				t.Errorf("%d entries parsed, %d reused: want %d parsed of %d", d.Parsed, d.Reused, want, len(f.routes)+1)
			}
			if s.changed != nil {
				if got := slices.Sorted(slices.Values(diff(before, c.last))); !slices.Equal(got, s.changed) {
					t.Errorf("changed %q, want %q", got, s.changed)
				}
			}
		})
	}
}

// TestDecoderRandomEdits: random sequences of edits (changed, added, removed, moved, duplicated
// entries, entries without ids, comments, anchors, plugins, broken files), each version's result
// Decode's.
func TestDecoderRandomEdits(t *testing.T) {
	for seed := range int64(10) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := rand.New(rand.NewPCG(uint64(seed), 1))
			f := baseFile(5 + rnd.IntN(30))
			var c checker
			sameAsDecode(t, &c, f.String())
			for step := range 120 {
				randomEdit(rnd, &f, step)
				sameAsDecode(t, &c, f.String())
			}
		})
	}
}

func randomEdit(rnd *rand.Rand, f *editFile, step int) {
	n := len(f.routes)
	pick := func() int { return rnd.IntN(max(n, 1)) }
	id := func() string {
		if rnd.IntN(4) == 0 {
			return ""
		}
		return fmt.Sprintf("r%d", rnd.IntN(n+5))
	}
	f.noEnd = false
	switch op := rnd.IntN(12); {
	case op < 3 && n > 0:
		f.routes[pick()] = route(id(), fmt.Sprintf("/s%d", step))
	case op < 5:
		f.routes = slices.Insert(f.routes, rnd.IntN(n+1), route(id(), fmt.Sprintf("/s%d", step)))
	case op < 6 && n > 1:
		i := pick()
		f.routes = slices.Delete(f.routes, i, i+1)
	case op < 7 && n > 1:
		i, j := pick(), pick()
		f.routes[i], f.routes[j] = f.routes[j], f.routes[i]
	case op < 8 && n > 0:
		f.routes = slices.Insert(f.routes, rnd.IntN(n+1), f.routes[pick()])
	case op < 9:
		f.comment = !f.comment
	case op < 10 && n > 1:
		i := pick()
		f.routes[i] = fmt.Sprintf("  - id: a%d\n    uri: /a\n    upstream: &up%d {nodes: {\"127.0.0.1:1\": 1}}\n", step, step)
		if rnd.IntN(2) == 0 {
			f.routes[(i+1)%n] = fmt.Sprintf("  - id: b%d\n    uri: /b\n    upstream: *up%d\n", step, step)
		}
	case op < 11:
		tails := []string{"", "plugins:\n  - name: key-auth\n", "plugins: []\n", "ssls: [{id: s1}]\nx: 1\n",
			"routes_conf_version: 3\n", "services:\n  - id: s1\n  - id: s1\n"}
		f.tail = tails[rnd.IntN(len(tails))]
	default:
		if rnd.IntN(2) == 0 {
			f.noEnd = true
		} else if n > 0 {
			f.routes[pick()] = "  - id: broken\n    uri: [unclosed\n"
		}
	}
}

// TestDecoderJSON: a JSON file is decoded whole each time, and the keys said to have changed
// are those that did.
func TestDecoderJSON(t *testing.T) {
	var dec Decoder
	versions := []string{
		`{"routes":[{"id":"a","uri":"/a"},{"id":"b","uri":"/b"}]}`,
		`{"routes":[{"id":"a","uri":"/a2"},{"id":"c","uri":"/c"}],"plugins":[{"name":"key-auth"}]}`,
		`{"routes":[`, // an error: the next version is compared with the one before
		`{"routes":[{"id":"a","uri":"/a2"}]}`,
	}
	want := [][]string{
		{"/apisix/routes/a", "/apisix/routes/b"},
		{"/apisix/plugins", "/apisix/routes/a", "/apisix/routes/b", "/apisix/routes/c"},
		nil,
		{"/apisix/plugins", "/apisix/routes/c"},
	}
	for i, v := range versions {
		kvs, changed, _, err := dec.Decode([]byte(v), JSON, "/apisix", nil, false)
		wantKV, _, wantErr := Decode([]byte(v), JSON, "/apisix", nil, false)
		if (err == nil) != (wantErr == nil) || !maps.EqualFunc(kvs, wantKV, bytes.Equal) {
			t.Fatalf("version %d: %v %s, Decode's %v %s", i, err, dump(kvs), wantErr, dump(wantKV))
		}
		if slices.Sort(changed); !slices.Equal(changed, want[i]) {
			t.Errorf("version %d: changed %q, want %q", i, changed, want[i])
		}
		if dec.ParsedBytes != len(v) && err == nil {
			t.Errorf("version %d: parsed %d bytes of %d", i, dec.ParsedBytes, len(v))
		}
	}
	if _, _, _, err := dec.Decode(make([]byte, MaxSize+1), YAML, "/apisix", nil, false); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over MaxSize: %v", err)
	}
}
