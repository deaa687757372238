package config

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// This file substitutes ${{VAR}} and ${{VAR:=default}} the way APISIX's
// apisix/cli/file.lua does for config.yaml:
//
//   - it applies to string scalars and to mapping keys of the parsed
//     document, quoted or not, never to comments;
//   - a reference is "${{", optional spaces, a name starting with a letter,
//     digit or underscore, anything up to the first "}}" (spaces before it
//     are dropped); ":=" splits the name from a default whose surrounding
//     spaces are dropped; an empty default is allowed;
//   - a set variable wins even when empty; an unset one without a default is
//     an error;
//   - a value (not a key) in which something was substituted becomes a
//     number if Lua's tonumber accepts the whole result, true or false if it
//     is exactly that word, and stays a string otherwise.

// substituted records the type a scalar took after substitution; its Value
// keeps the substituted text.
type substituted struct {
	num    float64
	isNum  bool
	isBool bool
}

// substitute walks the document once (aliases are visited once) and
// replaces references in place.
func (d *decoder) substitute(root *yaml.Node) {
	seen := make(map[*yaml.Node]bool)
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, indexPath(path, i))
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!str" && !seen[k] {
					seen[k] = true
					if s, used := d.expand(k.Value, joinPath(path, k.Value), k.Line); used {
						k.Value = s
					}
				}
				walk(v, joinPath(path, k.Value))
			}
		case yaml.ScalarNode:
			if n.ShortTag() != "!!str" {
				return
			}
			s, used := d.expand(n.Value, path, n.Line)
			if !used {
				return
			}
			n.Value = s
			switch f, ok := luaNumber(s); {
			case ok:
				d.subst[n] = substituted{num: f, isNum: true}
			case s == "true" || s == "false":
				d.subst[n] = substituted{isBool: true}
			}
		}
	}
	walk(root, "")
}

// expand replaces the references in s. used reports whether at least one
// reference was replaced; an undefined variable is recorded as an error.
func (d *decoder) expand(s, path string, line int) (string, bool) {
	if !strings.Contains(s, "${{") {
		return s, false
	}
	var b strings.Builder
	used := false
	for {
		i := strings.Index(s, "${{")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if !strings.Contains(s[i:], "}}") {
			// No reference can end: keep the rest as it is.
			b.WriteString(s)
			break
		}
		ref, end, ok := parseRef(s[i+3:])
		if !ok {
			// No reference starts here; keep "$" and look further on.
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		s = s[i+3+end:]
		name, def, hasDef := strings.Cut(ref, ":=")
		if v, ok := d.lookupEnv(name); ok {
			b.WriteString(v)
			used = true
			continue
		}
		if hasDef {
			b.WriteString(strings.TrimFunc(def, isLuaSpace))
			used = true
			continue
		}
		d.errs = append(d.errs, &Error{Key: path, Line: line,
			Msg: "can't find environment variable " + strconv.Quote(name) + " (use ${{" + name + ":=default}} for a default)"})
	}
	return b.String(), used
}

// parseRef parses what follows "${{": optional spaces, a word character,
// then anything up to the first "}}" with the spaces before it trimmed. It
// returns the reference, the length consumed including "}}", and whether
// there was a reference at all.
func parseRef(s string) (ref string, n int, ok bool) {
	start := 0
	for start < len(s) && isLuaSpaceByte(s[start]) {
		start++
	}
	if start == len(s) || !isWordByte(s[start]) {
		return "", 0, false
	}
	// Lua's lazy ".-" ends the reference at the first "}}" after the first
	// name character, minus the spaces just before it.
	j := strings.Index(s[start+1:], "}}")
	if j < 0 {
		return "", 0, false
	}
	q := start + 1 + j
	p := q
	for p > start+1 && isLuaSpaceByte(s[p-1]) {
		p--
	}
	return s[start:p], q + 2, true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// isLuaSpaceByte is C's isspace in the C locale, which Lua's %s uses.
func isLuaSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isLuaSpace(r rune) bool { return r < 0x80 && isLuaSpaceByte(byte(r)) }

// luaNumber reports whether LuaJIT's tonumber accepts s and returns the
// value: surrounding spaces, a sign, decimal or hexadecimal integers,
// decimal or hexadecimal floats, inf, infinity and nan (any case).
func luaNumber(s string) (float64, bool) {
	s = strings.TrimFunc(s, isLuaSpace)
	if s == "" || strings.ContainsRune(s, '_') {
		return 0, false
	}
	body := strings.TrimLeft(s, "+-")
	if len(s)-len(body) > 1 {
		return 0, false
	}
	neg := strings.HasPrefix(s, "-")
	if len(body) > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'X') &&
		!strings.ContainsAny(body, ".pP") {
		u, err := strconv.ParseUint(body[2:], 16, 64)
		if err != nil {
			return 0, false
		}
		f := float64(u)
		if neg {
			f = -f
		}
		return f, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !(math.IsInf(f, 0) && errors.Is(err, strconv.ErrRange)) {
		return 0, false
	}
	return f, true
}
