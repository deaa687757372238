package expr

import (
	"math"
	"strconv"
	"strings"
	"unsafe"
)

// toNumber converts s the way LuaJIT's tonumber converts a string: optional
// surrounding whitespace, an optional sign, then a decimal number (with
// optional fraction and exponent), a hexadecimal one ("0x1A", "0x1.8p3"),
// or inf / infinity / nan. Anything else is not a number.
func toNumber(s []byte) (float64, bool) {
	s = trimLuaSpace(s)
	if len(s) == 0 {
		return 0, false
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	var v float64
	var ok bool
	switch {
	case len(s) > 1 && s[0] == '0' && (s[1]|0x20) == 'x':
		v, ok = hexNumber(s[2:])
	case len(s) > 0 && (isDigit(s[0]) || s[0] == '.'):
		v, ok = decimalNumber(s)
	default:
		v, ok = specialNumber(s)
	}
	if neg {
		v = -v
	}
	return v, ok
}

func trimLuaSpace(s []byte) []byte {
	for len(s) > 0 && isLuaSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isLuaSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isLuaSpace(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// decimalNumber validates the decimal grammar itself, so that ParseFloat is
// only called on input it accepts (no error value is allocated per request).
func decimalNumber(s []byte) (float64, bool) {
	i, digits := 0, 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i]|0x20) == 'e' {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := 0
		for i < len(s) && isDigit(s[i]) {
			i, exp = i+1, exp+1
		}
		if exp == 0 {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	// The string is not retained: ParseFloat only reads it, and the
	// grammar above rules out the syntax errors whose value would keep it.
	v, err := strconv.ParseFloat(unsafe.String(unsafe.SliceData(s), len(s)), 64)
	if err != nil && !math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

func hexNumber(s []byte) (float64, bool) {
	var v float64
	i, digits, scale := 0, 0, 0
	for i < len(s) {
		d, ok := hexDigit(s[i])
		if !ok {
			break
		}
		v = v*16 + float64(d)
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) {
			d, ok := hexDigit(s[i])
			if !ok {
				break
			}
			v = v*16 + float64(d)
			i, digits, scale = i+1, digits+1, scale-4
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i]|0x20) == 'p' {
		i++
		neg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		exp, n := 0, 0
		for i < len(s) && isDigit(s[i]) {
			if exp < 100000 {
				exp = exp*10 + int(s[i]-'0')
			}
			i, n = i+1, n+1
		}
		if n == 0 {
			return 0, false
		}
		if neg {
			exp = -exp
		}
		scale += exp
	}
	if i != len(s) {
		return 0, false
	}
	return math.Ldexp(v, scale), true
}

func specialNumber(s []byte) (float64, bool) {
	str := unsafe.String(unsafe.SliceData(s), len(s))
	switch {
	case strings.EqualFold(str, "inf"), strings.EqualFold(str, "infinity"):
		return math.Inf(1), true
	case strings.EqualFold(str, "nan"):
		return math.NaN(), true
	}
	return 0, false
}

// formatNumber renders a JSON number operand as Lua's tostring would
// ("%.14g"), for regex operands written as numbers.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', 14, 64)
}
