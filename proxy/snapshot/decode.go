package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// decodeStrict decodes one JSON object into v, refusing unknown fields and trailing data, with
// errors that name the offending field the way APISIX's schema check does.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: data after the object")
	}
	return exactFields(data, reflect.TypeOf(v).Elem(), "")
}

// exactFields refuses the keys of the JSON object data (valid JSON) that are not, byte for byte,
// a field of t, a struct, nor of the structs it holds: encoding/json also matches a key that
// differs in case ("URI" sets uri, and wins over "uri" when it comes last), but APISIX's schema
// does not, and rejects such an object for its unknown field. prefix names the object's field.
func exactFields(data []byte, t reflect.Type, prefix string) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil // null
	}
	for i = skipSpace(data, i+1); i < len(data) && data[i] != '}'; {
		if data[i] != '"' {
			return nil // not a key: cannot happen in JSON that decoded
		}
		ks := i
		i = skipString(data, i)
		raw := data[ks:i]
		vs := skipSpace(data, skipSpace(data, i)+1) // after the ':'
		i = skipValue(data, vs)
		f, ok := structField(t, raw[1:len(raw)-1])
		if !ok && bytes.IndexByte(raw, '\\') >= 0 { // escaped: compare what the key spells
			var key string
			if json.Unmarshal(raw, &key) == nil {
				f, ok = structField(t, []byte(key))
			}
		}
		if !ok {
			var key string
			if json.Unmarshal(raw, &key) != nil {
				key = string(raw)
			}
			return fieldError(prefix+key, "unknown field")
		}
		if st := f.Type; st.Kind() == reflect.Pointer && st.Elem().Kind() == reflect.Struct {
			if err := exactFields(data[vs:i], st.Elem(), prefix+f.Name+"."); err != nil {
				return err
			}
		}
		if i = skipSpace(data, i); i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

// jsonField is a struct field as it is named in JSON.
type jsonField struct {
	Name string
	Type reflect.Type
}

// docFields are the JSON fields of the structs decodeStrict decodes into, by name; read only.
var docFields = func() map[reflect.Type]map[string]jsonField {
	out := map[reflect.Type]map[string]jsonField{}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		if _, done := out[t]; done {
			return
		}
		m := map[string]jsonField{}
		out[t] = m
		for i := range t.NumField() {
			sf := t.Field(i)
			if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != "" && name != "-" {
				m[name] = jsonField{Name: name, Type: sf.Type}
				if sf.Type.Kind() == reflect.Pointer && sf.Type.Elem().Kind() == reflect.Struct {
					add(sf.Type.Elem())
				}
			}
		}
	}
	for _, t := range []reflect.Type{reflect.TypeFor[routeDoc](), reflect.TypeFor[serviceDoc](), reflect.TypeFor[pluginSetDoc](),
		reflect.TypeFor[consumerDoc](), reflect.TypeFor[credentialDoc]()} {
		add(t)
	}
	return out
}()

// structField finds the field of struct t whose JSON name is name, exactly.
func structField(t reflect.Type, name []byte) (jsonField, bool) {
	if m, ok := docFields[t]; ok {
		f, ok := m[string(name)]
		return f, ok
	}
	for i := range t.NumField() { // a type decodeStrict is not used with in this package yet
		sf := t.Field(i)
		if tag, _, _ := strings.Cut(sf.Tag.Get("json"), ","); tag == string(name) {
			return jsonField{Name: tag, Type: sf.Type}, true
		}
	}
	return jsonField{}, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipString returns the index after the JSON string that starts at b[i].
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the JSON value that starts at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = skipString(b, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return fmt.Errorf("expected a JSON object, got %s", te.Value)
		}
		return fmt.Errorf("%s: wrong type: expected %s, got %s", field, goTypeName(te.Type.String()), te.Value)
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON: %v (offset %d)", se, se.Offset)
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fmt.Errorf("%s: unknown field", strings.Trim(name, `"`))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return errors.New("invalid JSON: unexpected end of data")
	}
	return fmt.Errorf("invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "integer"
	case strings.HasPrefix(t, "float"):
		return "number"
	case t == "string":
		return "string"
	case t == "bool":
		return "boolean"
	case strings.HasPrefix(t, "[]"):
		return "array"
	case strings.HasPrefix(t, "map["), strings.HasPrefix(t, "snapshot."):
		return "object"
	}
	return t
}

var idPattern = regexp.MustCompile(`^[a-zA-Z0-9-_.]+$`)

// id is an APISIX id: a string of 1–64 characters of [a-zA-Z0-9-_.] or an integer >= 1.
type id string

func (i *id) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		if len(s) < 1 || len(s) > 64 || !idPattern.MatchString(s) {
			return fmt.Errorf("%q is not a valid id (1-64 characters of a-z A-Z 0-9 - _ .)", s)
		}
		*i = id(s)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n < 1 {
		return fmt.Errorf("%s is not a valid id (a string or an integer >= 1)", b)
	}
	*i = id(strconv.FormatInt(n, 10))
	return nil
}

// fieldError names the field of a validation failure.
func fieldError(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
}

// checkMeta validates the metadata fields every APISIX object shares.
func checkMeta(name, desc *string, labels map[string]string) error {
	if name != nil {
		if n := utf8.RuneCountInString(*name); n < 1 || n > 256 {
			return fieldError("name", "length must be 1 to 256, got %d", n)
		}
	}
	if desc != nil {
		if n := utf8.RuneCountInString(*desc); n > 256 {
			return fieldError("desc", "length must be at most 256, got %d", n)
		}
	}
	for k, v := range labels {
		n := utf8.RuneCountInString(v)
		if n < 1 || n > 256 || strings.ContainsAny(v, " \t\r\n\f\v") {
			return fieldError("labels."+k, "value %q must be 1 to 256 characters without spaces", v)
		}
	}
	return nil
}

// idField decodes an optional id field given as a raw message (so that errors name the field).
func idField(field string, raw json.RawMessage) (string, error) {
	if raw == nil {
		return "", nil
	}
	var v id
	if err := v.UnmarshalJSON(raw); err != nil {
		return "", fieldError(field, "%v", err)
	}
	return string(v), nil
}
