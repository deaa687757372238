package expr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Error describes why a rule was rejected. Path locates the offending
// element ("[1][0]", empty for the rule as a whole).
type Error struct {
	Path   string
	Reason string
	Err    error // underlying cause, if any
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// Expr is a compiled rule. The nil *Expr and the empty rule match every
// request.
type Expr struct {
	fn   evalFn
	text string // the rule re-encoded compactly, for dumps
}

type evalFn func(Source) bool

// Eval reports whether the request behind s satisfies the rule.
func (e *Expr) Eval(s Source) bool {
	if e == nil || e.fn == nil {
		return true
	}
	return e.fn(s)
}

// Empty reports whether the rule has no condition ([] or {}).
func (e *Expr) Empty() bool { return e == nil || e.fn == nil }

// String returns the rule as compact JSON.
func (e *Expr) String() string {
	if e == nil {
		return ""
	}
	return e.text
}

// Compile parses and compiles an APISIX `vars` value. An absent value
// (empty input or JSON null) yields (nil, nil): no condition. Errors are
// *Error values.
func Compile(raw []byte) (*Expr, error) { return compile(raw, ParseVar) }

// CompileResponse is Compile for an expression evaluated once the response head is known
// (response-rewrite's vars): its variables may also be the response's (ParseResponseVar), which
// the Source must then serve.
func CompileResponse(raw []byte) (*Expr, error) { return compile(raw, ParseResponseVar) }

// parseVarFunc resolves a variable name: ParseVar or ParseResponseVar.
type parseVarFunc func(name string) (Var, error)

func compile(raw []byte, parse parseVarFunc) (*Expr, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &Error{Reason: "invalid JSON: " + err.Error(), Err: err}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &Error{Reason: "invalid JSON: data after the top-level value"}
	}
	if v == nil {
		return nil, nil
	}
	e := &Expr{}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err == nil {
		e.text = buf.String()
	}
	switch t := v.(type) {
	case map[string]any:
		// cjson decodes {} as an empty table, which APISIX's schema takes
		// for an empty array.
		if len(t) == 0 {
			return e, nil
		}
		return nil, &Error{Reason: "must be an array, got object"}
	case []any:
		if len(t) == 0 {
			return e, nil
		}
		if !isTable(t[0]) {
			if s, ok := luaString(t[0]); !ok || !isLogicOp(strings.ToUpper(s)) {
				return nil, &Error{Reason: `expressions must be wrapped in an outer array, e.g. [["arg_name", "==", "json"]]`}
			}
		}
		fn, err := compileRule(t, "", parse)
		if err != nil {
			return nil, err
		}
		e.fn = fn
		return e, nil
	default:
		return nil, &Error{Reason: "must be an array, got " + typeName(v)}
	}
}

func isLogicOp(op string) bool {
	switch op {
	case "AND", "OR", "!AND", "!OR":
		return true
	}
	return false
}

func isTable(v any) bool {
	switch v.(type) {
	case []any, map[string]any:
		return true
	}
	return false
}

// luaString converts what Lua's string functions accept (strings and
// numbers) to a string.
func luaString(v any) (string, bool) {
	switch t := v.(type) {
	case string:
		return t, true
	case json.Number:
		f, ok := jsonNumber(t)
		if !ok {
			return t.String(), true
		}
		return formatNumber(f), true
	}
	return "", false
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// compileRule follows lua-resty-expr's compile(): a list whose first
// element is a table is an AND of sub-rules; a list starting with a logical
// operator combines the sub-rules after it; anything else is a leaf.
func compileRule(v any, path string, parse parseVarFunc) (evalFn, error) {
	rules, ok := v.([]any)
	if !ok {
		if isTable(v) { // an object: Lua's # is 0
			return nil, &Error{Path: path, Reason: "empty expression"}
		}
		return nil, &Error{Path: path, Reason: "expression must be an array, got " + typeName(v)}
	}
	if len(rules) == 0 {
		return nil, &Error{Path: path, Reason: "empty expression"}
	}
	if isTable(rules[0]) {
		fns := make([]evalFn, len(rules))
		for i, sub := range rules {
			fn, err := compileRule(sub, index(path, i), parse)
			if err != nil {
				return nil, err
			}
			fns[i] = fn
		}
		return logic("AND", fns), nil
	}
	first, ok := luaString(rules[0])
	if !ok {
		return nil, &Error{Path: path, Reason: "variable name must be a string, got " + typeName(rules[0])}
	}
	if op := strings.ToUpper(first); isLogicOp(op) {
		if len(rules) <= 2 {
			return nil, &Error{Path: path, Reason: fmt.Sprintf("%q needs at least two expressions", first)}
		}
		fns := make([]evalFn, len(rules)-1)
		for i, sub := range rules[1:] {
			fn, err := compileRule(sub, index(path, i+1), parse)
			if err != nil {
				return nil, err
			}
			fns[i] = fn
		}
		return logic(op, fns), nil
	}
	return compileLeaf(rules, path, parse)
}

func logic(op string, fns []evalFn) evalFn {
	if len(fns) == 1 && op == "AND" {
		return fns[0]
	}
	switch op {
	case "AND":
		return func(s Source) bool {
			for _, f := range fns {
				if !f(s) {
					return false
				}
			}
			return true
		}
	case "OR":
		return func(s Source) bool {
			for _, f := range fns {
				if f(s) {
					return true
				}
			}
			return false
		}
	case "!AND":
		return func(s Source) bool {
			for _, f := range fns {
				if !f(s) {
					return true
				}
			}
			return false
		}
	default: // "!OR"
		return func(s Source) bool {
			for _, f := range fns {
				if f(s) {
					return false
				}
			}
			return true
		}
	}
}

// compileLeaf follows lua-resty-expr's compile_expr().
func compileLeaf(e []any, path string, parse parseVarFunc) (evalFn, error) {
	var (
		lv, opv, rv   any
		hasOp, hasVal bool
		reverse       bool
	)
	switch n := len(e); {
	case n == 4:
		if s, ok := e[1].(string); !ok || s != "!" {
			return nil, &Error{Path: path, Reason: `a 4-element expression must have "!" as its second element`}
		}
		lv, opv, rv, hasOp, hasVal, reverse = e[0], e[2], e[3], true, true, true
	default:
		lv = e[0]
		if n >= 2 {
			opv, hasOp = e[1], true
		}
		if n >= 3 {
			rv, hasVal = e[2], true
		}
	}
	var op string
	if hasOp {
		s, ok := luaString(opv)
		if !ok {
			return nil, &Error{Path: path, Reason: "operator must be a string, got " + typeName(opv)}
		}
		op = strings.ToLower(s)
	}
	if !hasVal && !isCompareOp(op) {
		// Backward compatibility: [var, value] means [var, "==", value],
		// with the value lowercased like an operator.
		if !hasOp {
			return nil, &Error{Path: path, Reason: "invalid expression: want [var, operator, value]"}
		}
		rv, hasVal, op = op, true, "=="
	}
	name, ok := lv.(string)
	if !ok {
		return nil, &Error{Path: path, Reason: "variable name must be a string, got " + typeName(lv)}
	}
	if !isCompareOp(op) {
		return nil, &Error{Path: path, Reason: fmt.Sprintf("unknown operator %q", op)}
	}
	v, err := parse(name)
	if err != nil {
		return nil, &Error{Path: path, Reason: err.Error(), Err: err}
	}
	fn, err := leaf(&v, op, rv)
	if err != nil {
		return nil, &Error{Path: path, Reason: err.Error(), Err: err}
	}
	if reverse {
		return func(s Source) bool { return !fn(s) }, nil
	}
	return fn, nil
}

func isCompareOp(op string) bool {
	switch op {
	case "==", "~=", ">", ">=", "<", "<=", "~~", "~*", "in", "has", "ipmatch":
		return true
	}
	return false
}
