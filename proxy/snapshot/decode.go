package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	return nil
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
