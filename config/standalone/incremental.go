package standalone

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// Decoder decodes successive versions of one configuration file, as Decode does, at a cost in
// proportion to what changed from one version to the next rather than to the file: a
// 10,000-route apisix.yaml with one route changed is one small YAML parse and one object
// encoded, and the key/values it returns are updated in place, with the keys that changed.
//
// A YAML file is cut by a scan of its lines at the entries of its top-level lists (routes:,
// upstreams:, ...). Each list's entries are matched with the previous version's by their text:
// the entries equal at the start and at the end of the list are taken as they are, those in
// between are looked up by their text among the previous version's in between, and only the
// texts not found go through the YAML parser. The objects of the entries taken from the previous
// version are reused (their JSON is not encoded again); an entry without an id, whose id is
// arr_<position>, is made again when its position moved.
//
// The cut is conservative: a file with anchors, aliases, tags or several documents, a root that
// is not a plain block mapping at the left margin, a list indented unusually, or an entry that
// does not parse alone, is parsed whole, as Decode does (the whole parse then gives the error,
// if any). So is a JSON file. When two objects have the same key (in this version or the last),
// every object's key is looked at again, as Decode does, to find which one wins. The result is
// Decode's in every case.
//
// A Decoder is not safe for concurrent use; its zero value is ready.
type Decoder struct {
	// Of the last version decoded without error:
	kvs    map[string][]byte // its key/values (what Decode returned; updated in place)
	prefix string            // the prefix of their keys
	dups   bool              // two of its objects had the same key
	// cut tells that it was cut into entries: then lists holds its entries by type (indexed as
	// Types), cutTypes the types whose lists were cut (the others were in rest), rest its text
	// outside the lists cut and restDoc that text parsed.
	cut      bool
	lists    [][]*record
	cutTypes []bool
	rest     string
	restDoc  *Document

	// Reused and Parsed count the entries of the last Decode taken from the previous version
	// and parsed anew (both 0 when the file was parsed whole); ParsedBytes is how much text went
	// through a parser (all of it when the file was parsed whole).
	Reused, Parsed, ParsedBytes int
}

// record is one list entry and what it decodes to. It is never changed once made: versions
// share it.
type record struct {
	text string // the entry's text; "" for an entry of a list that was not cut
	val  any    // the decoded entry, kept only when its Object depends on its position
	obj  Object // what the entry makes (obj.Index is its position)
	msg  string // why the entry is skipped; "" when it is not
}

// newRecord makes the record of the entry val at position i of the list typ.
func newRecord(typ string, i int, text string, val any) *record {
	o, err := object(typ, i, val)
	r := &record{text: text, obj: o}
	if err != nil {
		r.msg = err.Error()
	}
	if positional(typ, val) {
		r.val = val
	}
	return r
}

// positional reports whether the Object of the entry val depends on its position: an object
// with no id (nor username, for a consumer) is given the id arr_<position>.
func positional(typ string, val any) bool {
	m, ok := val.(map[string]any)
	if !ok || m["id"] != nil || typ == "plugin_metadata" {
		return false
	}
	return typ != "consumers" || m["username"] == nil
}

// at returns r as the entry at position i: r itself when it is there already.
func (r *record) at(typ string, i int) *record {
	if r.obj.Index == i {
		return r
	}
	if r.val != nil {
		return newRecord(typ, i, r.text, r.val)
	}
	moved := *r
	moved.obj.Index = i
	return &moved
}

// Decode is Decode, reusing what it can of the previous call's work. It returns the
// configuration's key/values and the keys whose value is new, changed or gone since the
// previous call that returned no error (every key for the first).
//
// The map returned is the Decoder's own: it must not be changed, and the next call to Decode
// changes it.
func (dec *Decoder) Decode(data []byte, f Format, prefix string, lookupEnv func(string) (string, bool), requireEnd bool) (kvs map[string][]byte, changed []string, warns []Warning, err error) {
	dec.Reused, dec.Parsed, dec.ParsedBytes = 0, 0, 0
	if f != YAML {
		doc, err := Parse(data, f, lookupEnv, requireEnd)
		if err != nil {
			return nil, nil, nil, err
		}
		dec.ParsedBytes = len(data)
		return dec.whole(doc, prefix)
	}
	if len(data) > MaxSize {
		return nil, nil, nil, ErrTooLarge
	}
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	if requireEnd && !hasEnd(data) {
		return nil, nil, nil, ErrMissingEnd
	}
	text, _, err := expand(string(data), lookupEnv)
	if err != nil {
		return nil, nil, nil, err
	}
	if v, ok := dec.decodeCut(text, prefix); ok {
		return v.kvs, v.changed, v.warns, v.err
	}
	dec.Reused, dec.Parsed = 0, 0
	root, err := parseYAML([]byte(text))
	if err != nil {
		return nil, nil, nil, err
	}
	doc, err := newDocument(root)
	if err != nil {
		return nil, nil, nil, err
	}
	dec.ParsedBytes = len(text)
	return dec.whole(doc, prefix)
}

// whole takes doc, parsed whole, as the new version.
func (dec *Decoder) whole(doc *Document, prefix string) (map[string][]byte, []string, []Warning, error) {
	objs, warns := doc.Objects()
	kvs, dupWarns := keyValues(objs, prefix)
	if err := putPlugins(kvs, doc, prefix); err != nil {
		return nil, nil, nil, err
	}
	changed := diff(dec.kvs, kvs)
	dec.kvs, dec.prefix, dec.dups = kvs, prefix, len(dupWarns) > 0
	dec.cut, dec.lists, dec.cutTypes, dec.rest, dec.restDoc = false, nil, nil, "", nil
	return kvs, changed, append(warns, dupWarns...), nil
}

// decoded is what Decode returns.
type decoded struct {
	kvs     map[string][]byte
	changed []string
	warns   []Warning
	err     error
}

// decodeCut decodes text cut into its list entries; ok is false when it cannot (the caller
// parses whole), and then the Decoder is unchanged.
func (dec *Decoder) decodeCut(text, prefix string) (v decoded, ok bool) {
	c, ok := cutText(text)
	if !ok {
		return v, false
	}
	parsed, reused, parsedBytes := 0, 0, 0
	restDoc, restChanged := dec.restDoc, false
	if !dec.cut || c.rest != dec.rest {
		r, err := parseYAML([]byte(c.rest))
		if err != nil {
			return v, false
		}
		top, isMap := r.(map[string]any)
		switch {
		case r == nil:
			top = map[string]any{}
		case !isMap:
			return v, false
		}
		if restDoc, err = newDocument(top); err != nil {
			return v, false
		}
		restChanged, parsedBytes = true, len(c.rest)
	}
	lists := make([][]*record, len(Types))
	var oldTouched, newTouched []*record // the entries whose objects may have changed, before and after
	for ti, typ := range Types {
		var old []*record
		if dec.cut {
			old = dec.lists[ti]
		}
		if !c.cut[ti] {
			// A list written in the rest (in flow style, say), or none.
			if !restChanged && !dec.cutTypes[ti] {
				lists[ti] = old
				continue
			}
			items := restDoc.Lists[typ]
			recs := make([]*record, len(items))
			for i, item := range items {
				recs[i] = newRecord(typ, i, "", item)
			}
			lists[ti] = recs
			oldTouched, newTouched = append(oldTouched, old...), append(newTouched, recs...)
			continue
		}
		if _, inRest := restDoc.Lists[typ]; inRest {
			return v, false // the key twice: the whole parse says so
		}
		entries := c.lists[ti]
		recs := make([]*record, len(entries))
		p := 0
		for p < len(old) && p < len(entries) && old[p].text == entries[p] {
			recs[p] = old[p]
			p++
		}
		s := 0
		for s < len(old)-p && s < len(entries)-p && old[len(old)-1-s].text == entries[len(entries)-1-s] {
			i, r := len(entries)-1-s, old[len(old)-1-s]
			recs[i] = r.at(typ, i)
			if recs[i] != r && r.val != nil {
				// Its id was its position.
				oldTouched, newTouched = append(oldTouched, r), append(newTouched, recs[i])
			}
			s++
		}
		reused += p + s
		oldMid, newMid := old[p:len(old)-s], entries[p:len(entries)-s]
		var byText map[string]*record
		if len(oldMid) > 0 && len(newMid) > 0 {
			byText = make(map[string]*record, len(oldMid))
			for _, r := range oldMid {
				if _, dup := byText[r.text]; !dup && r.text != "" {
					byText[r.text] = r
				}
			}
		}
		for k, e := range newMid {
			i := p + k
			if r, ok := byText[e]; ok {
				recs[i] = r.at(typ, i)
				reused++
				continue
			}
			root, err := parseYAMLDepth([]byte(e), 1)
			one, isList := root.([]any)
			if err != nil || !isList || len(one) != 1 {
				return v, false
			}
			// The text is copied: a substring would keep the whole file's text alive as long
			// as the entry lives.
			recs[i] = newRecord(typ, i, strings.Clone(e), one[0])
			parsed++
			parsedBytes += len(e)
			if byText == nil {
				byText = map[string]*record{}
			}
			byText[recs[i].text] = recs[i]
		}
		lists[ti] = recs
		oldTouched, newTouched = append(oldTouched, oldMid...), append(newTouched, recs[p:len(entries)-s]...)
	}
	dec.Reused, dec.Parsed, dec.ParsedBytes = reused, parsed, parsedBytes

	if dec.cut && dec.kvs != nil && prefix == dec.prefix && !dec.dups {
		if v, ok := dec.update(lists, restDoc, restChanged, oldTouched, newTouched); ok {
			if v.err != nil {
				return v, true
			}
			dec.lists, dec.cutTypes, dec.rest, dec.restDoc = lists, c.cut, c.rest, restDoc
			return v, true
		}
	}
	// Every object's key is looked at: the first version, one after a whole parse, or objects
	// with the same key.
	objs := make([]Object, 0, len(dec.kvs))
	warns := unknownWarnings(restDoc)
	for ti, typ := range Types {
		for i, r := range lists[ti] {
			if r.msg != "" {
				warns = append(warns, Warning{Type: typ, Index: i, ID: r.obj.ID, Msg: r.msg})
				continue
			}
			objs = append(objs, r.obj)
		}
	}
	kvs, dupWarns := keyValues(objs, prefix)
	if err := putPlugins(kvs, restDoc, prefix); err != nil {
		return decoded{err: err}, true
	}
	v = decoded{kvs: kvs, changed: diff(dec.kvs, kvs), warns: append(warns, dupWarns...)}
	dec.kvs, dec.prefix, dec.dups = kvs, prefix, len(dupWarns) > 0
	dec.cut, dec.lists, dec.cutTypes, dec.rest, dec.restDoc = true, lists, c.cut, c.rest, restDoc
	return v, true
}

// update brings dec.kvs to the new version by the objects of the entries touched alone: those
// of oldTouched go, those of newTouched come. ok is false, and dec.kvs unchanged, when two
// objects of the new version have one key: then which one wins is Decode's business.
func (dec *Decoder) update(lists [][]*record, restDoc *Document, restChanged bool, oldTouched, newTouched []*record) (v decoded, ok bool) {
	removed := make(map[string]bool, len(oldTouched))
	for _, r := range oldTouched {
		if r.msg == "" {
			removed[dec.prefix+r.obj.Key] = true
		}
	}
	added := make(map[string][]byte, len(newTouched))
	for _, r := range newTouched {
		if r.msg != "" {
			continue
		}
		k := dec.prefix + r.obj.Key
		if _, dup := added[k]; dup {
			return v, false
		}
		if _, had := dec.kvs[k]; had && !removed[k] {
			return v, false // the key of an object not touched
		}
		added[k] = r.obj.Value
	}
	pk := dec.prefix + "/" + PluginsKey
	var plugins []byte
	if restChanged && restDoc.HasPlugins {
		var err error
		if plugins, err = pluginsValue(restDoc); err != nil {
			return decoded{err: err}, true
		}
	}
	changed := []string{}
	for k := range removed {
		if _, still := added[k]; !still {
			delete(dec.kvs, k)
			changed = append(changed, k)
		}
	}
	for k, val := range added {
		if old, had := dec.kvs[k]; !had || !bytes.Equal(old, val) {
			dec.kvs[k] = val
			changed = append(changed, k)
		}
	}
	if restChanged {
		old, had := dec.kvs[pk]
		switch {
		case restDoc.HasPlugins && (!had || !bytes.Equal(old, plugins)):
			dec.kvs[pk] = plugins
			changed = append(changed, pk)
		case !restDoc.HasPlugins && had:
			delete(dec.kvs, pk)
			changed = append(changed, pk)
		}
	}
	warns := unknownWarnings(restDoc)
	for ti, typ := range Types {
		for i, r := range lists[ti] {
			if r.msg != "" {
				warns = append(warns, Warning{Type: typ, Index: i, ID: r.obj.ID, Msg: r.msg})
			}
		}
	}
	return decoded{kvs: dec.kvs, changed: changed, warns: warns}, true
}

// diff returns the keys whose value differs between old and cur, or is in one of them only.
func diff(old, cur map[string][]byte) []string {
	changed := []string{}
	for k, v := range cur {
		if o, had := old[k]; !had || !bytes.Equal(o, v) {
			changed = append(changed, k)
		}
	}
	for k := range old {
		if _, ok := cur[k]; !ok {
			changed = append(changed, k)
		}
	}
	return changed
}

// notSplittable reports anchors and aliases (an alias may name an anchor of another entry) and
// tags: a '&', '*' or '!' that starts a token. (Document markers are found by cutText.) It runs on every version of the file, so it looks for each character with
// IndexByte rather than testing every byte.
func notSplittable(text string) bool {
	for _, c := range []byte{'&', '*', '!'} {
		for i := 0; ; i++ {
			j := strings.IndexByte(text[i:], c)
			if j < 0 {
				break
			}
			i += j
			if i+1 < len(text) && !isSpace(text[i+1]) && (i == 0 || strings.IndexByte(" \t\r\n[{,:-", text[i-1]) >= 0) {
				return true
			}
		}
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// plainKey reports whether line is "<key>:" at the left margin followed by nothing, a blank or
// the end: a key of the root mapping, the key made of [A-Za-z0-9_.-].
func plainKey(line string) bool {
	i := 0
	for i < len(line) && (line[i] >= 'a' && line[i] <= 'z' || line[i] >= 'A' && line[i] <= 'Z' ||
		line[i] >= '0' && line[i] <= '9' || line[i] == '_' || line[i] == '.' || line[i] == '-') {
		i++
	}
	return i > 0 && i < len(line) && line[i] == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t')
}

// listKey returns the key of a top-level line "<key>:" ([a-z_]+, then only blanks and a
// comment), whose value is then a block below it.
func listKey(line string) (string, bool) {
	i := 0
	for i < len(line) && (line[i] >= 'a' && line[i] <= 'z' || line[i] == '_') {
		i++
	}
	if i == 0 || i >= len(line) || line[i] != ':' {
		return "", false
	}
	after := line[i+1:]
	if after != "" && after[0] != ' ' && after[0] != '\t' {
		return "", false // "routes:x" is a scalar, not a key
	}
	if rest := strings.TrimLeft(after, " \t"); rest != "" && rest[0] != '#' {
		return "", false
	}
	return line[:i], true
}

// trimEOL is s without the '\n' and '\r' at its end.
func trimEOL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

// lineAt returns the line of text that starts at i, with its newline, and where the next starts.
func lineAt(text string, i int) (line string, next int) {
	j := strings.IndexByte(text[i:], '\n')
	if j < 0 {
		return text[i:], len(text)
	}
	return text[i : i+j+1], i + j + 1
}

// typeIndex is the index of each type in Types.
var typeIndex = func() map[string]int {
	m := make(map[string]int, len(Types))
	for i, t := range Types {
		m[t] = i
	}
	return m
}()

// cutFile is a YAML text cut at its lists' entries.
type cutFile struct {
	lists [][]string // by index in Types: the entries' texts (substrings of the text)
	cut   []bool     // by index in Types: the list was cut (an empty one too)
	rest  string     // the text outside the lists cut
}

// cutText cuts text at the entries of its top-level lists of Types; ok is false when it cannot
// (the caller parses whole).
func cutText(text string) (c cutFile, ok bool) {
	if notSplittable(text) {
		return c, false
	}
	c.lists, c.cut = make([][]string, len(Types)), make([]bool, len(Types))
	var rest strings.Builder
	// The root must be a block mapping at the left margin, and every line there a key or a list
	// entry: anything else there (a continued scalar, a flow collection, an indented root, a
	// document marker) is parsed whole. The lines at the margin are all seen here, those of the
	// lists cut too: splitList stops at the first that is not an entry.
	first := true
	for i := 0; i < len(text); {
		line, next := lineAt(text, i)
		t := trimEOL(line)
		if body := strings.TrimLeft(t, " "); body != "" && body[0] != '#' {
			if strings.HasPrefix(t, "---") || strings.HasPrefix(t, "...") || !plainKey(t) &&
				(first || t[0] != ' ' && t != "-" && !strings.HasPrefix(t, "- ")) {
				return c, false
			}
			first = false
		}
		key, isKey := listKey(t)
		ti, isType := typeIndex[key]
		if !isKey || !isType {
			rest.WriteString(line)
			i = next
			continue
		}
		if c.cut[ti] {
			return c, false // a duplicate key: the whole parse says so
		}
		if !yamlChars(line) {
			return c, false // in the comment after the key, which no parse would see
		}
		entries, after, ok := splitList(text, next)
		if !ok {
			return c, false
		}
		c.lists[ti], c.cut[ti] = entries, true
		i = after
	}
	c.rest = rest.String()
	return c, true
}

// splitList cuts the block list whose lines start at text[from:] into its entries' texts, up to
// the next line at the left margin that is not an entry; next is where that line starts. An
// entry's text runs from its "- " line to the next entry's (comments and blank lines after it
// included). ok is false for a list it does not know how to cut.
func splitList(text string, from int) (entries []string, next int, ok bool) {
	indent, start := -1, -1
	i := from
	for i < len(text) {
		line, after := lineAt(text, i)
		body := strings.TrimLeft(line, " ")
		n := len(line) - len(body)
		trimmed := trimEOL(body)
		if trimmed == "" || trimmed[0] == '#' {
			i = after
			continue
		}
		if body[0] == '\t' {
			return nil, 0, false
		}
		isEntry := trimmed == "-" || strings.HasPrefix(trimmed, "- ")
		if indent < 0 {
			// The blank and comment lines before are in no entry: no parse sees them.
			if !yamlChars(text[from:i]) {
				return nil, 0, false
			}
			if !isEntry {
				if n == 0 {
					return nil, i, true // an empty list (null), then the next key
				}
				return nil, 0, false
			}
			indent = n
		}
		switch {
		case n == 0 && !isEntry:
			return append(entries, text[start:i]), i, true // the next top-level key
		case n < indent:
			return nil, 0, false
		case n == indent && isEntry:
			if start >= 0 {
				entries = append(entries, text[start:i])
			}
			start = i
		case n == indent:
			return nil, 0, false
		}
		i = after
	}
	if start < 0 {
		return nil, i, yamlChars(text[from:i]) // blank and comment lines only
	}
	return append(entries, text[start:i]), i, true
}

// yamlChars reports whether s is made of characters a YAML stream may hold (valid UTF-8, no
// control characters but tab and line breaks), as the YAML parser checks even in comments.
func yamlChars(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r < 0xA0 && r != 0x85 || r >= 0xD800 && r < 0xE000 || r == 0xFFFE || r == 0xFFFF {
			return false
		}
		i += size
	}
	return true
}
