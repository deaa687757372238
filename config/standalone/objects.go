package standalone

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Object is one entry of a list, ready to store.
type Object struct {
	// Type is the list it came from ("consumers" for a credential too); Index its 0-based
	// position there.
	Type  string
	Index int
	// ID is the object's id as APISIX assigns it: its id, else its username (consumers), else
	// arr_<1-based position>. For a credential it is "<username>/credentials/<id>".
	ID string
	// Key is its key relative to the prefix: "/routes/1", "/consumers/jack/credentials/a".
	Key string
	// Value is the object as JSON, its id written back as a string and modifiedIndex removed.
	Value []byte
	// ModifiedIndex is the object's own modifiedIndex, when it has one (HasModifiedIndex).
	ModifiedIndex    int64
	HasModifiedIndex bool
	// Credential tells a consumer's credential from a consumer.
	Credential bool
}

// Warning is a problem with one entry, which is skipped, or with the file, which is still read.
type Warning struct {
	Type  string // the list, or "" for the file
	Index int    // 0-based position in the list
	ID    string // the entry's id, when it has one
	Msg   string
}

func (w Warning) String() string {
	switch {
	case w.Type == "":
		return w.Msg
	case w.ID != "":
		return fmt.Sprintf("%s[%d] (id %s): %s", w.Type, w.Index, w.ID, w.Msg)
	}
	return fmt.Sprintf("%s[%d]: %s", w.Type, w.Index, w.Msg)
}

var credentialID = regexp.MustCompile(`^[a-zA-Z0-9_-]+/credentials/[a-zA-Z0-9_.-]+$`)

// Objects splits the lists into objects, in the order of Types and of each list. An entry that
// is not an object, or whose id cannot name a key, is skipped with a warning. Duplicate ids are
// all returned: what to do with them is the caller's choice (Decode keeps the later one, the
// Admin API refuses them).
func (d *Document) Objects() ([]Object, []Warning) {
	var objs []Object
	warns := unknownWarnings(d)
	for _, typ := range Types {
		for i, item := range d.Lists[typ] {
			o, err := object(typ, i, item)
			if err != nil {
				warns = append(warns, Warning{Type: typ, Index: i, ID: o.ID, Msg: err.Error()})
				continue
			}
			objs = append(objs, o)
		}
	}
	return objs, warns
}

// unknownWarnings are the warnings about d's unknown top-level keys.
func unknownWarnings(d *Document) []Warning {
	var warns []Warning
	for _, k := range d.Unknown {
		warns = append(warns, Warning{Msg: fmt.Sprintf("unknown top-level key %q ignored", k)})
	}
	return warns
}

func object(typ string, i int, item any) (Object, error) {
	o := Object{Type: typ, Index: i}
	m, ok := item.(map[string]any)
	if !ok {
		return o, fmt.Errorf("is a %s, not an object", typeName(item))
	}
	switch raw := m["id"]; {
	case raw != nil:
		id, err := idString(raw)
		if err != nil {
			return o, err
		}
		o.ID = id
	case typ == "consumers" && m["username"] != nil:
		u, ok := m["username"].(string)
		if !ok {
			return o, fmt.Errorf("username is a %s, not a string", typeName(m["username"]))
		}
		o.ID = u
	case typ == "plugin_metadata":
		return o, fmt.Errorf("has no id (the plugin's name)")
	default:
		o.ID = "arr_" + strconv.Itoa(i+1)
	}
	switch {
	case o.ID == "":
		return o, fmt.Errorf("empty id")
	case typ == "consumers" && strings.Contains(o.ID, "/"):
		if !credentialID.MatchString(o.ID) || len(o.ID) < 15 || len(o.ID) > 128 {
			return o, fmt.Errorf("invalid credential id %q (<username>/credentials/<id>, 15-128 characters)", o.ID)
		}
		o.Credential = true
	case typ == "secrets":
		if mgr, id, ok := strings.Cut(o.ID, "/"); !ok || mgr == "" || id == "" || strings.Contains(id, "/") {
			return o, fmt.Errorf("invalid secret id %q (<manager>/<id>)", o.ID)
		}
	case strings.Contains(o.ID, "/"):
		return o, fmt.Errorf("invalid id %q: contains '/'", o.ID)
	}
	if raw, ok := m["modifiedIndex"]; ok {
		n, err := integer(raw)
		if err != nil {
			return o, fmt.Errorf("modifiedIndex: %v", err)
		}
		o.ModifiedIndex, o.HasModifiedIndex = n, true
	}
	// The value stored: a shallow copy with the id set and modifiedIndex (metadata of the
	// standalone format, not of the object) removed.
	v := make(map[string]any, len(m)+1)
	for k, e := range m {
		v[k] = e
	}
	delete(v, "modifiedIndex")
	v["id"] = o.ID
	data, err := marshal(v)
	if err != nil {
		return o, err
	}
	o.Value = data
	o.Key = "/" + typ + "/" + o.ID
	return o, nil
}

// idString returns an id as APISIX's tostring does for a string or a number.
func idString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	}
	return "", fmt.Errorf("id is a %s, not a string or a number", typeName(v))
}

func integer(v any) (int64, error) {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%v is not an integer", v)
}

// marshal encodes v as compact JSON, without escaping <, > and & (values are read back by
// machines and people, never embedded in HTML).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Decode parses a whole standalone configuration into the key/values a control plane would hold
// under prefix ("/apisix/routes/1" -> the object's JSON): ids assigned as APISIX does,
// credentials under /consumers/<username>/credentials/<id>, plugin_metadata under
// /plugin_metadata/<plugin>, the plugins list as <prefix>/plugins. lookupEnv resolves
// ${{VAR}} and ${{VAR:=default}}; requireEnd asks a YAML file for the #END marker.
//
// A problem with one entry (not an object, a bad id, a duplicate id) is a warning and the entry
// is skipped; of two entries with the same id the later wins, unless it carries a modifiedIndex
// equal to the earlier one's. A problem with the file (syntax, #END, an unset variable, YAML
// aliases beyond the budget, over MaxSize) is the error, and nothing is returned.
func Decode(data []byte, f Format, prefix string, lookupEnv func(string) (string, bool), requireEnd bool) (map[string][]byte, []Warning, error) {
	doc, err := Parse(data, f, lookupEnv, requireEnd)
	if err != nil {
		return nil, nil, err
	}
	return decodeDocument(doc, prefix)
}

// decodeDocument is Decode after parsing.
func decodeDocument(doc *Document, prefix string) (map[string][]byte, []Warning, error) {
	objs, warns := doc.Objects()
	out, dupWarns := keyValues(objs, prefix)
	if err := putPlugins(out, doc, prefix); err != nil {
		return nil, nil, err
	}
	return out, append(warns, dupWarns...), nil
}

// keyValues files objs under prefix+Key. Of two objects with the same key the later wins, unless
// it carries a modifiedIndex equal to the earlier one's; each duplicate is a warning.
func keyValues(objs []Object, prefix string) (map[string][]byte, []Warning) {
	var warns []Warning
	out := make(map[string][]byte, len(objs)+1)
	seen := make(map[string]int, len(objs)) // key -> index in objs of the version kept
	for i, o := range objs {
		j, dup := seen[o.Key]
		if dup {
			prev := objs[j]
			if o.HasModifiedIndex && prev.HasModifiedIndex && o.ModifiedIndex == prev.ModifiedIndex {
				warns = append(warns, Warning{Type: o.Type, Index: o.Index, ID: o.ID,
					Msg: fmt.Sprintf("duplicate id with the same modifiedIndex as %s[%d]: ignored", prev.Type, prev.Index)})
				continue
			}
			warns = append(warns, Warning{Type: o.Type, Index: o.Index, ID: o.ID,
				Msg: fmt.Sprintf("duplicate id: replaces %s[%d]", prev.Type, prev.Index)})
		}
		seen[o.Key] = i
		out[prefix+o.Key] = o.Value
	}
	return out, warns
}

// putPlugins files doc's plugins list, when it has one, under <prefix>/plugins.
func putPlugins(out map[string][]byte, doc *Document, prefix string) error {
	if !doc.HasPlugins {
		return nil
	}
	data, err := pluginsValue(doc)
	if err != nil {
		return err
	}
	out[prefix+"/"+PluginsKey] = data
	return nil
}

// pluginsValue is the value stored for doc's plugins list.
func pluginsValue(doc *Document) ([]byte, error) {
	list := doc.Plugins
	if list == nil {
		list = []any{}
	}
	data, err := marshal(list)
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	return data, nil
}
