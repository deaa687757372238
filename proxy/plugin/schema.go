package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode/utf8"
)

// Conf is a plugin conf being validated: the JSON object's fields, read with typed getters that
// apply a default when the field is absent and fail with the text of APISIX's schema checker
// (api7/jsonschema): `property "header" validation failed: wrong type: expected string, got
// number`. Fields no getter reads are allowed, as in APISIX's plugin schemas that do not set
// additionalProperties.
type Conf struct {
	fields map[string]json.RawMessage
	// rec is set on a probe conf (see Describe): getters record the field and return its default.
	rec *record
}

// ParseConf parses a conf that must be a JSON object.
func ParseConf(raw []byte) (Conf, error) {
	if rec := probeRecord(raw); rec != nil {
		return Conf{rec: rec}, nil
	}
	var fields map[string]json.RawMessage
	if ty := JSONType(raw); ty != "object" {
		return Conf{}, fmt.Errorf("wrong type: expected object, got %s", ty)
	}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return Conf{}, fmt.Errorf("invalid JSON: %v", err)
	}
	return Conf{fields: fields}, nil
}

// Has reports whether the field is present (and not null).
func (c Conf) Has(name string) bool {
	if c.trace(name, map[string]any{}) {
		return c.rec.present // see Describe
	}
	v, ok := c.fields[name]
	return ok && JSONType(v) != "null"
}

// Raw returns a field's JSON as it is (absent or null: false), for a field another parser reads
// (an inline upstream, a `vars` expression).
func (c Conf) Raw(name string) (json.RawMessage, bool) {
	c.trace(name, map[string]any{})
	return c.raw(name)
}

func (c Conf) raw(name string) (json.RawMessage, bool) {
	v, ok := c.fields[name]
	if !ok || JSONType(v) == "null" {
		return nil, false
	}
	return v, true
}

// MinProperties fails, as APISIX's minProperties does, when the conf has fewer than n fields
// (null ones count, as in JSON schema).
func (c Conf) MinProperties(n int) error {
	if c.rec != nil {
		c.rec.minProps = n
		return nil
	}
	if len(c.fields) < n {
		return fmt.Errorf("expect object to have at least %d properties", n)
	}
	return nil
}

// Required fails, as APISIX does, when one of names is absent.
func (c Conf) Required(names ...string) error {
	if c.traceRequired(names) {
		return nil
	}
	for _, n := range names {
		if !c.Has(n) {
			return fmt.Errorf("property %q is required", n)
		}
	}
	return nil
}

// String returns a string field, def when absent.
func (c Conf) String(name, def string) (string, error) {
	c.trace(name, typed("string", def, def != ""))
	v, ok := c.raw(name)
	if !ok {
		return def, nil
	}
	if ty := JSONType(v); ty != "string" {
		return "", wrongType(name, "string", ty)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("property %q validation failed: %v", name, err)
	}
	return s, nil
}

// StringLen is String with APISIX's minLength and maxLength (max < 0: none).
func (c Conf) StringLen(name, def string, min, max int) (string, error) {
	if c.trace(name, lengths(typed("string", def, def != ""), min, max)) {
		return def, nil
	}
	s, err := c.String(name, def)
	if err != nil || !c.Has(name) {
		return s, err
	}
	n := utf8.RuneCountInString(s)
	if n < min {
		return "", fmt.Errorf("property %q validation failed: string too short, expected at least %d, got %d", name, min, n)
	}
	if max >= 0 && n > max {
		return "", fmt.Errorf("property %q validation failed: string too long, expected at most %d, got %d", name, max, n)
	}
	return s, nil
}

// Bool returns a boolean field, def when absent.
func (c Conf) Bool(name string, def bool) (bool, error) {
	c.trace(name, typed("boolean", def, true))
	v, ok := c.raw(name)
	if !ok {
		return def, nil
	}
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, wrongType(name, "boolean", JSONType(v))
}

// Int returns an integer field, def when absent.
func (c Conf) Int(name string, def int) (int, error) {
	c.trace(name, typed("integer", def, def != 0))
	v, ok := c.raw(name)
	if !ok {
		return def, nil
	}
	if ty := JSONType(v); ty != "number" {
		return 0, wrongType(name, "integer", ty)
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, wrongType(name, "integer", "number")
	}
	return int(f), nil
}

// Number returns a number field, def when absent.
func (c Conf) Number(name string, def float64) (float64, error) {
	c.trace(name, typed("number", def, def != 0))
	v, ok := c.raw(name)
	if !ok {
		return def, nil
	}
	if ty := JSONType(v); ty != "number" {
		return 0, wrongType(name, "number", ty)
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, fmt.Errorf("property %q validation failed: %v", name, err)
	}
	return f, nil
}

// StringList returns an array-of-strings field (nil when absent), with APISIX's minItems and
// uniqueItems.
func (c Conf) StringList(name string, minItems int, unique bool) ([]string, error) {
	if c.rec != nil {
		s := map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
		if minItems > 0 {
			s["minItems"] = minItems
		}
		if unique {
			s["uniqueItems"] = true
		}
		c.trace(name, s)
	}
	v, ok := c.raw(name)
	if !ok {
		return nil, nil
	}
	if ty := JSONType(v); ty != "array" {
		return nil, wrongType(name, "array", ty)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("property %q validation failed: %v", name, err)
	}
	if len(items) < minItems {
		return nil, fmt.Errorf("property %q validation failed: expect array to have at least %d items", name, minItems)
	}
	out := make([]string, len(items))
	for i, it := range items {
		if ty := JSONType(it); ty != "string" {
			return nil, fmt.Errorf("property %q validation failed: failed to validate item %d: wrong type: expected string, got %s",
				name, i+1, ty)
		}
		_ = json.Unmarshal(it, &out[i])
		if unique && slices.Contains(out[:i], out[i]) {
			return nil, fmt.Errorf("property %q validation failed: expected unique items but items %d and %d are equal",
				name, slices.Index(out[:i], out[i])+1, i+1)
		}
	}
	return out, nil
}

// StringMap returns an object-of-strings field (nil when absent).
func (c Conf) StringMap(name string) (map[string]string, error) {
	c.trace(name, map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}})
	v, ok := c.raw(name)
	if !ok {
		return nil, nil
	}
	if ty := JSONType(v); ty != "object" {
		return nil, wrongType(name, "object", ty)
	}
	var items map[string]json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("property %q validation failed: %v", name, err)
	}
	out := make(map[string]string, len(items))
	for k, it := range items {
		if ty := JSONType(it); ty != "string" {
			return nil, fmt.Errorf("property %q validation failed: property %q validation failed: wrong type: expected string, got %s",
				name, k, ty)
		}
		var s string
		_ = json.Unmarshal(it, &s)
		out[k] = s
	}
	return out, nil
}

// Enum fails unless the string s of field name is one of allowed.
func Enum(name, s string, allowed ...string) error {
	if slices.Contains(allowed, s) {
		return nil
	}
	return fmt.Errorf("property %q validation failed: matches none of the enum values", name)
}

func wrongType(name, want, got string) error {
	return fmt.Errorf("property %q validation failed: wrong type: expected %s, got %s", name, want, got)
}

// ErrAnyOf is APISIX's message when no alternative of an anyOf/oneOf schema matches.
var ErrAnyOf = errors.New("object matches none of the required")

// JSONType is the JSON type of a valid JSON value, as APISIX's schema errors name it.
func JSONType(v []byte) string {
	v = bytes.TrimLeft(v, " \t\r\n")
	if len(v) == 0 {
		return "null"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	if strings.ContainsAny(string(v[:1]), "-0123456789") {
		return "number"
	}
	return "unknown"
}

// Objects returns an array-of-objects field (nil when absent), each item a Conf.
func (c Conf) Objects(name string) ([]Conf, error) {
	if c.rec != nil {
		// One probe item, whose reads describe the items (the same record in both runs).
		item := newRecord()
		if prev, ok := c.rec.props[name]["items"].(*record); ok {
			item = prev
		}
		item.present = c.rec.present
		c.rec.set(name, map[string]any{"type": "array", "items": item})
		return []Conf{{rec: item}}, nil
	}
	v, ok := c.raw(name)
	if !ok {
		return nil, nil
	}
	if ty := JSONType(v); ty != "array" {
		return nil, wrongType(name, "array", ty)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, fmt.Errorf("property %q validation failed: %v", name, err)
	}
	out := make([]Conf, len(items))
	for i, it := range items {
		ic, err := ParseConf(it)
		if err != nil {
			return nil, fmt.Errorf("property %q validation failed: failed to validate item %d: %w", name, i+1, err)
		}
		out[i] = ic
	}
	return out, nil
}

// AuthFields reads the route-conf fields every authentication plugin has (key-auth, basic-auth,
// jwt-auth): hide_credentials (default false), anonymous_consumer (none by default) and realm
// (defaultRealm when absent), with APISIX's schema checks.
func (c Conf) AuthFields(defaultRealm string) (hide bool, anonymous, realm string, err error) {
	if hide, err = c.Bool("hide_credentials", false); err != nil {
		return false, "", "", err
	}
	if anonymous, err = c.StringLen("anonymous_consumer", "", 1, -1); err != nil {
		return false, "", "", err
	}
	if realm, err = c.StringLen("realm", defaultRealm, 1, -1); err != nil {
		return false, "", "", err
	}
	return hide, anonymous, realm, nil
}
