package limit

import (
	"fmt"
	"strings"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Key types (APISIX's key_type).
const (
	TypeVar            = "var"
	TypeVarCombination = "var_combination"
	TypeConstant       = "constant"
)

// Key is a compiled key/key_type: how a request's counter key is made.
type Key struct {
	typ      string
	v        expr.Var // TypeVar
	segs     []seg    // TypeVarCombination
	constant string   // TypeConstant
	addr     bool     // TypeVar $remote_addr: AppendLocal appends the address's bytes
}

// seg is a literal, or a variable with an optional default (${var ?? default}).
type seg struct {
	lit    string
	v      *expr.Var
	def    string
	hasDef bool
}

var remoteAddr = expr.Var{Name: "remote_addr", Kind: expr.VarRemoteAddr}

// CompileKey compiles key with key_type typ (already checked against the plugin's enum). A
// variable zoneproxy cannot read is an error, where APISIX would read it.
func CompileKey(key, typ string) (Key, error) {
	k := Key{typ: typ}
	switch typ {
	case TypeConstant:
		k.constant = key
	case TypeVarCombination:
		segs, err := parseTemplate(key)
		if err != nil {
			return Key{}, err
		}
		k.segs = segs
	default:
		v, err := parseVar(key)
		if err != nil {
			return Key{}, err
		}
		k.v = v
		k.addr = v.Kind == expr.VarRemoteAddr
	}
	return k, nil
}

// Constant reports whether the key is the same for every request (key_type constant).
func (k *Key) Constant() bool { return k.typ == TypeConstant }

func parseVar(name string) (expr.Var, error) {
	v, err := expr.ParseVar(name)
	if err != nil {
		return expr.Var{}, fmt.Errorf("property \"key\" validation failed: %w", err)
	}
	return v, nil
}

// Append appends the request's key to dst, as APISIX's limit plugins make it: the variable's
// value (var), the template with its variables resolved (var_combination; when none of them
// has a value, nil), the key itself (constant); nil is the client address ($remote_addr).
func (k *Key) Append(dst []byte, r *plugin.Request) []byte {
	start := len(dst)
	switch k.typ {
	case TypeConstant:
		return append(dst, k.constant...)
	case TypeVarCombination:
		if out, ok := k.Resolve(dst, r); ok {
			return out
		}
	default:
		var ok bool
		if dst, ok = r.AppendVar(dst, &k.v); ok {
			return dst
		}
	}
	dst, _ = r.AppendVar(dst[:start], &remoteAddr)
	return dst
}

// AppendLocal appends the request's key as counters kept in this process hold it: Append's,
// but for a key that is the client address alone ($remote_addr, limit-count's default) its 4
// (IPv4, mapped or not) or 16 bytes instead of its text: one counter per client all the same,
// without formatting the address for each request. Only for counters whose keys all come from
// one Key and never leave the process (not Redis's).
func (k *Key) AppendLocal(dst []byte, r *plugin.Request) []byte {
	if !k.addr {
		return k.Append(dst, r)
	}
	ip := r.Ctx.RemoteIP()
	if ip4 := ip.To4(); ip4 != nil {
		return append(dst, ip4...)
	}
	return append(dst, ip...)
}

// Resolve appends a var_combination key's template with its variables resolved, as APISIX's
// core.utils.resolve_var makes it, and reports whether any variable had a value (its
// n_resolved > 0): limit-count's rules skip a rule whose key resolves none. Only for keys
// compiled with TypeVarCombination.
func (k *Key) Resolve(dst []byte, r *plugin.Request) ([]byte, bool) {
	resolved := 0
	for i := range k.segs {
		s := &k.segs[i]
		if s.v == nil {
			dst = append(dst, s.lit...)
			continue
		}
		var ok bool
		if dst, ok = r.AppendVar(dst, s.v); ok {
			resolved++
		} else if s.hasDef {
			dst = append(dst, s.def...)
			resolved++
		}
	}
	return dst, resolved > 0
}

// parseTemplate splits a var_combination key as APISIX's core.utils.resolve_var reads it: the
// pattern (?<!\\)\$(\{\s*([^}]+?)\s*\}|([\w\.]+)), a `??` in braces giving a default.
func parseTemplate(tpl string) ([]seg, error) {
	var segs []seg
	lit := strings.Builder{}
	flush := func() {
		if lit.Len() > 0 {
			segs = append(segs, seg{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(tpl); i++ {
		c := tpl[i]
		if c != '$' || (i > 0 && tpl[i-1] == '\\') {
			lit.WriteByte(c)
			continue
		}
		name, def, hasDef, n := "", "", false, 0
		if i+1 < len(tpl) && tpl[i+1] == '{' {
			end := strings.IndexByte(tpl[i+2:], '}')
			inner := ""
			if end >= 0 {
				inner = strings.TrimSpace(tpl[i+2 : i+2+end])
			}
			if end < 0 || inner == "" {
				lit.WriteByte(c)
				continue
			}
			name, n = inner, end+3
			if a, b, ok := strings.Cut(inner, "??"); ok {
				name, def, hasDef = strings.TrimSpace(a), strings.TrimSpace(b), true
			}
		} else {
			j := i + 1
			for j < len(tpl) && isWord(tpl[j]) {
				j++
			}
			if j == i+1 {
				lit.WriteByte(c)
				continue
			}
			name, n = tpl[i+1:j], j-i
		}
		v, err := parseVar(name)
		if err != nil {
			return nil, err
		}
		flush()
		segs = append(segs, seg{v: &v, def: def, hasDef: hasDef})
		i += n - 1
	}
	flush()
	return segs, nil
}

func isWord(c byte) bool {
	return c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
