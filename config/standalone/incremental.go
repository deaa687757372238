package standalone

import "strings"

// Decoder decodes successive versions of one configuration file, as Decode does, but for YAML
// it parses again only the list entries whose text changed since the previous version: the text
// is cut at the entries of the top-level lists (routes:, upstreams:, ...), each entry's text is
// looked up in the previous version's decode, and only new texts go through the YAML parser.
// A 10,000-route file with one route changed is then one small parse instead of the whole file.
//
// The cut is conservative: a file with anchors or aliases, several documents, a list written in
// flow style or indented unusually is parsed whole, as Decode does, and so is a file any entry
// of which does not parse alone (the whole parse then gives the error). The result is the same
// as Decode's in every case.
//
// A Decoder is not safe for concurrent use; its zero value is ready.
type Decoder struct {
	prev map[string]any // an entry's text → its decoded value, of the last version decoded
	// objects maps the decoded values of prev (by identity) to the Objects made of them.
	objects map[uintptr]memoized
	// Reused and Parsed count the entries of the last Decode taken from the previous version
	// and parsed anew (both 0 when the file was parsed whole).
	Reused, Parsed int
}

// Decode is Decode, reusing what it can of the previous call's work.
func (dec *Decoder) Decode(data []byte, f Format, prefix string, lookupEnv func(string) (string, bool), requireEnd bool) (map[string][]byte, []Warning, error) {
	dec.Reused, dec.Parsed = 0, 0
	if f != YAML {
		dec.prev = nil
		return Decode(data, f, prefix, lookupEnv, requireEnd)
	}
	if len(data) > MaxSize {
		return nil, nil, ErrTooLarge
	}
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	if requireEnd && !hasEnd(data) {
		return nil, nil, ErrMissingEnd
	}
	text, _, err := expand(string(data), lookupEnv)
	if err != nil {
		return nil, nil, err
	}
	root, ok := dec.parseSplit(text)
	if !ok {
		dec.prev, dec.objects, dec.Reused, dec.Parsed = nil, nil, 0, 0
		if root, err = parseYAML([]byte(text)); err != nil {
			return nil, nil, err
		}
	}
	doc, err := newDocument(root)
	if err != nil {
		return nil, nil, err
	}
	if ok {
		// The Objects of reused entries are reused too (their JSON is not encoded again).
		doc.memo, doc.nextMemo = dec.objects, make(map[uintptr]memoized, len(dec.objects))
	}
	kvs, warns, err := decodeDocument(doc, prefix)
	dec.objects = doc.nextMemo
	return kvs, warns, err
}

// notSplittable reports anchors and aliases (an alias may name an anchor of another entry),
// tags, and document markers: a '&', '*' or '!' that starts a token, a line starting with "---"
// or "...".
func notSplittable(text string) bool {
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch c {
		case '&', '*', '!':
			if i+1 < len(text) && !isSpace(text[i+1]) && (i == 0 || strings.IndexByte(" \t\r\n[{,:-", text[i-1]) >= 0) {
				return true
			}
		case '-', '.':
			if (i == 0 || text[i-1] == '\n') && (strings.HasPrefix(text[i:], "---") || strings.HasPrefix(text[i:], "...")) {
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

// parseSplit decodes text entry by entry; ok is false when it cannot (the caller parses whole).
func (dec *Decoder) parseSplit(text string) (root any, ok bool) {
	if notSplittable(text) {
		return nil, false
	}
	isType := make(map[string]bool, len(Types))
	for _, t := range Types {
		isType[t] = true
	}
	lines := strings.SplitAfter(text, "\n")
	// The root must be a block mapping at the left margin, and every line there a key or a list
	// entry: anything else there (a continued scalar, a flow collection, an indented root) is
	// parsed whole.
	first := true
	for _, line := range lines {
		t := strings.TrimRight(line, "\r\n")
		if strings.TrimLeft(t, " ") == "" || strings.TrimLeft(t, " ")[0] == '#' {
			continue
		}
		if first && !plainKey(t) {
			return nil, false // the root starts indented, or is not a mapping
		}
		first = false
		if t[0] == ' ' || t == "-" || strings.HasPrefix(t, "- ") {
			continue
		}
		if !plainKey(t) {
			return nil, false
		}
	}
	var rest strings.Builder       // the text outside the split lists
	lists := map[string][]string{} // type → its entries' texts
	for i := 0; i < len(lines); {
		line := lines[i]
		key, isKey := listKey(strings.TrimRight(line, "\r\n"))
		if !isKey || !isType[key] {
			rest.WriteString(line)
			i++
			continue
		}
		if _, dup := lists[key]; dup {
			return nil, false // a duplicate key: the whole parse says so
		}
		entries, next, ok := splitList(lines, i+1)
		if !ok {
			return nil, false
		}
		lists[key] = entries
		i = next
	}
	next := make(map[string]any, len(dec.prev))
	parsed, reused := 0, 0
	items := make(map[string][]any, len(lists))
	for typ, entries := range lists {
		list := make([]any, 0, len(entries))
		for _, e := range entries {
			v, seen := next[e]
			if !seen {
				v, seen = dec.prev[e]
			}
			if seen {
				reused++
			} else {
				r, err := parseYAML([]byte(e))
				one, isList := r.([]any)
				if err != nil || !isList || len(one) != 1 {
					return nil, false
				}
				v = one[0]
				parsed++
			}
			next[e] = v
			list = append(list, v)
		}
		items[typ] = list
	}
	r, err := parseYAML([]byte(rest.String()))
	if err != nil {
		return nil, false
	}
	top, isMap := r.(map[string]any)
	switch {
	case r == nil:
		top = make(map[string]any, len(items))
	case !isMap:
		return nil, false
	}
	for typ, list := range items {
		if _, dup := top[typ]; dup {
			return nil, false
		}
		top[typ] = list
	}
	dec.prev, dec.Reused, dec.Parsed = next, reused, parsed
	return top, true
}

// splitList cuts the block list that starts at lines[from] into its entries' texts, up to the
// next line at the left margin that is not an entry; next is that line's index. ok is false for
// a list it does not know how to cut.
func splitList(lines []string, from int) (entries []string, next int, ok bool) {
	indent := -1
	var cur strings.Builder
	flush := func() {
		if cur.Len() > 0 {
			entries = append(entries, cur.String())
			cur.Reset()
		}
	}
	i := from
	for ; i < len(lines); i++ {
		line := lines[i]
		body := strings.TrimLeft(line, " ")
		n := len(line) - len(body)
		trimmed := strings.TrimRight(body, "\r\n")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			if indent >= 0 {
				cur.WriteString(line)
			}
			continue
		}
		if strings.HasPrefix(body, "\t") {
			return nil, 0, false
		}
		isEntry := trimmed == "-" || strings.HasPrefix(trimmed, "- ")
		if indent < 0 {
			if !isEntry {
				if n == 0 {
					break // an empty list (null), then the next key
				}
				return nil, 0, false
			}
			indent = n
		}
		switch {
		case n == 0 && !isEntry:
			flush()
			return entries, i, true // the next top-level key
		case n < indent:
			return nil, 0, false
		case n == indent && isEntry:
			flush()
		case n == indent:
			return nil, 0, false
		}
		cur.WriteString(line)
	}
	flush()
	return entries, i, true
}
