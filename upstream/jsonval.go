package upstream

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
)

// Small typed accessors over json.RawMessage. Each names the field in its error so that a
// rejected object says exactly what is wrong, e.g. `checks.active.timeout: must be a number`.

func jsonKind(raw json.RawMessage) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '"', '{', '[', 't', 'f', 'n':
		return c
	default:
		return '0'
	}
}

func asObject(raw json.RawMessage, field string) (map[string]json.RawMessage, error) {
	if jsonKind(raw) != '{' {
		return nil, invalid(field, "must be an object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, invalid(field, "must be an object")
	}
	return m, nil
}

func asArray(raw json.RawMessage, field string) ([]json.RawMessage, error) {
	if jsonKind(raw) != '[' {
		return nil, invalid(field, "must be an array")
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, invalid(field, "must be an array")
	}
	return a, nil
}

func asString(raw json.RawMessage, field string) (string, error) {
	if jsonKind(raw) != '"' {
		return "", invalid(field, "must be a string")
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(field, "must be a string")
	}
	return s, nil
}

func asBool(raw json.RawMessage, field string) (bool, error) {
	var b bool
	if k := jsonKind(raw); k != 't' && k != 'f' {
		return false, invalid(field, "must be a boolean")
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, invalid(field, "must be a boolean")
	}
	return b, nil
}

func asNumber(raw json.RawMessage, field string) (float64, error) {
	if jsonKind(raw) != '0' {
		return 0, invalid(field, "must be a number")
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, invalid(field, "must be a number")
	}
	return f, nil
}

// asInt accepts a JSON number with an integral value (1 and 1.0 alike, as Lua does) that fits
// an int64.
func asInt(raw json.RawMessage, field string) (int64, error) {
	if jsonKind(raw) != '0' {
		return 0, invalid(field, "must be an integer")
	}
	text := string(bytes.TrimSpace(raw))
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, invalid(field, "must be an integer")
	}
	return int64(f), nil
}

// asIntRange is asInt bounded to [lo, hi].
func asIntRange(raw json.RawMessage, field string, lo, hi int64) (int, error) {
	n, err := asInt(raw, field)
	if err != nil {
		return 0, err
	}
	if n < lo {
		return 0, invalid(field, "must be >= "+strconv.FormatInt(lo, 10))
	}
	if n > hi {
		return 0, invalid(field, "must be <= "+strconv.FormatInt(hi, 10))
	}
	return int(n), nil
}
