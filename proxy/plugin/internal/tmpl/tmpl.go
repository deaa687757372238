// Package tmpl compiles the string templates of APISIX plugins once per conf and renders them
// per request without allocating: variables ($remote_addr, ${http_x ?? default}) as APISIX's
// core.utils.resolve_var reads them, regex captures ($1, ${1}) as resolve_var_with_captures
// (proxy-rewrite), and redirect's own grammar (apisix/plugins/redirect.lua); Sub is an
// ngx.re.sub replacement template (regex_uri's).
//
// Variables are read through the request's plugin.Vars when it implements AppendVar
// (router.Table does); route_id, service_id and consumer_name come from the plugin.Request.
// A Template is immutable and safe for concurrent use.
package tmpl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/ngxescape"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Grammar selects how "$" is read.
type Grammar int

const (
	// Vars is resolve_var: $name ([\w.]+) and ${ name } or ${ name ?? default }; a "$"
	// preceded by "\" is left as it is (the "\" stays).
	Vars Grammar = iota
	// VarsCaptures is Vars after resolve_var_with_captures: $N, ${N} are regex captures.
	VarsCaptures
	// Redirect is redirect.lua's: \$name stays as written, ${name} and $name ([0-9a-zA-Z_]+)
	// are variables, any other "$" is itself.
	Redirect
)

type kind uint8

const (
	lit kind = iota
	variable
	capture
	routeID
	serviceID
	consumerName
)

type seg struct {
	kind   kind
	lit    string
	v      expr.Var
	def    string
	hasDef bool
	n      int // capture
}

// Template is a compiled template.
type Template struct {
	segs    []seg
	hasVars bool
}

// Static reports whether t has no variable or capture: its value is Literal.
func (t *Template) Static() bool { return !t.hasVars }

// Literal is the text of a static template.
func (t *Template) Literal() string {
	if len(t.segs) == 0 {
		return ""
	}
	return t.segs[0].lit
}

// Compile compiles s.
func Compile(s string, g Grammar) (*Template, error) {
	t := &Template{}
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			t.segs = append(t.segs, seg{kind: lit, lit: b.String()})
			b.Reset()
		}
	}
	add := func(sg seg) {
		flush()
		t.segs = append(t.segs, sg)
		t.hasVars = true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == '\\' && i+1 < len(s) && s[i+1] == '$' {
			// Escaped: both characters stay (resolve_var's look-behind; redirect's \$name).
			j := i + 2
			if g == Redirect {
				j = i + 2 + span(s[i+2:], isRedirectName)
				if j == i+2 {
					// "\$" not followed by a name: redirect drops the "\" (gmatch skips it)
					// and the "$" is itself.
					b.WriteByte('$')
					i += 2
					continue
				}
			}
			b.WriteString(s[i:j])
			i = j
			continue
		}
		if c != '$' {
			b.WriteByte(c)
			i++
			continue
		}
		rest := s[i+1:]
		if g == VarsCaptures {
			j := 0
			if j < len(rest) && rest[j] == '{' {
				j++
			}
			d := span(rest[j:], isDigit)
			if d > 0 {
				n, _ := strconv.Atoi(rest[j : j+d])
				j += d
				if j < len(rest) && rest[j] == '}' {
					j++
				}
				add(seg{kind: capture, n: n})
				i += 1 + j
				continue
			}
		}
		nameOK := isWordOrDot
		if g == Redirect {
			nameOK = isRedirectName
		}
		if len(rest) > 0 && rest[0] == '{' {
			if end := strings.IndexByte(rest, '}'); end > 1 {
				inner := strings.TrimSpace(rest[1:end])
				if g == Redirect {
					if inner != rest[1:end] || span(inner, isRedirectName) != len(inner) {
						inner = ""
					}
				}
				if inner != "" {
					name, def, hasDef := inner, "", false
					if g != Redirect {
						if k := strings.Index(inner, "??"); k >= 0 {
							name, def, hasDef = strings.TrimSpace(inner[:k]), strings.TrimSpace(inner[k+2:]), true
						}
					}
					sg, err := varSeg(name)
					if err != nil {
						return nil, err
					}
					sg.def, sg.hasDef = def, hasDef
					add(sg)
					i += 1 + end + 1
					continue
				}
			}
		}
		if n := span(rest, nameOK); n > 0 {
			sg, err := varSeg(rest[:n])
			if err != nil {
				return nil, err
			}
			add(sg)
			i += 1 + n
			continue
		}
		b.WriteByte('$')
		i++
	}
	flush()
	return t, nil
}

func varSeg(name string) (seg, error) {
	switch name {
	case "route_id":
		return seg{kind: routeID}, nil
	case "service_id":
		return seg{kind: serviceID}, nil
	case "consumer_name":
		return seg{kind: consumerName}, nil
	}
	v, err := expr.ParseVar(name)
	var uv *expr.UnsupportedVarError
	if errors.As(err, &uv) {
		return seg{}, fmt.Errorf("variable $%s is not supported by zoneproxy", name)
	}
	if err != nil {
		return seg{}, err
	}
	return seg{kind: variable, v: v}, nil
}

func span(s string, ok func(byte) bool) int {
	n := 0
	for n < len(s) && ok(s[n]) {
		n++
	}
	return n
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isRedirectName(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isWordOrDot(c byte) bool { return isRedirectName(c) || c == '.' }

// varAppender is what plugin.Vars implements to give a variable's value (router.Table).
type varAppender interface {
	AppendVar(dst []byte, ctx *fasthttp.RequestCtx, v *expr.Var) ([]byte, bool)
}

// Escape, when given to Append, rewrites what a variable or a capture inserted (not the
// template's own text) from dst[from:] on, returning dst: proxy-rewrite's escape_separator.
type Escape func(dst []byte, from int) []byte

// Append renders t for r, appending to dst. subject and captures are the regex match of
// VarsCaptures templates (captures as regexp's submatch indexes into subject; a missing or
// unmatched group is empty).
func (t *Template) Append(dst []byte, r *plugin.Request, subject []byte, captures []int, esc Escape) []byte {
	for i := range t.segs {
		sg := &t.segs[i]
		from := len(dst)
		switch sg.kind {
		case lit:
			dst = append(dst, sg.lit...)
			continue
		case capture:
			if k := 2 * sg.n; k+1 < len(captures) && captures[k] >= 0 {
				dst = append(dst, subject[captures[k]:captures[k+1]]...)
			}
		case routeID:
			dst = append(dst, r.RouteID...)
		case serviceID:
			dst = append(dst, r.ServiceID...)
		case consumerName:
			if r.Consumer != nil {
				dst = append(dst, r.Consumer.Username...)
			} else if sg.hasDef {
				dst = append(dst, sg.def...)
			}
		case variable:
			ok := false
			if va, is := r.Vars.(varAppender); is {
				dst, ok = va.AppendVar(dst, r.Ctx, &sg.v)
			}
			if !ok && sg.hasDef {
				dst = append(dst, sg.def...)
			}
		}
		if esc != nil {
			dst = esc(dst, from)
		}
	}
	return dst
}

// AppendHeaderValue renders t for r as a response header's value, appending to dst: control
// characters (CR, LF, NUL, DEL, ...) are percent-encoded, as lua-nginx-module does with a value
// set through ngx.header, so that no value, whatever a variable brings, splits the response.
func (t *Template) AppendHeaderValue(dst []byte, r *plugin.Request) []byte {
	start := len(dst)
	dst = t.Append(dst, r, nil, nil, nil)
	return EscapeControl(dst, start)
}

// EscapeControl percent-encodes the control characters of dst[from:] (an Escape).
func EscapeControl(dst []byte, from int) []byte {
	clean := true
	for _, b := range dst[from:] {
		if b < 0x20 || b == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return dst
	}
	n := len(dst)
	dst = ngxescape.Control.Append(dst, dst[from:n])
	return append(dst[:from], dst[n:]...)
}
