package tmpl

import (
	"fmt"
	"strings"
)

// Sub is a compiled ngx.re.sub replacement template (proxy-rewrite's and redirect's regex_uri):
// literal text and captures $0..$99, ${n}; "$$" is a "$".
type Sub []subPart

// subPart is one piece of a Sub: literal text, or a capture (n >= 0).
type subPart struct {
	lit string
	n   int
}

// CompileSub compiles an ngx.re.sub template; any "$" but $N, ${N} and $$ is an error, as
// ngx.re.sub says.
func CompileSub(s string) (Sub, error) {
	var out Sub
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		j, brace := i+1, false
		if j < len(s) && s[j] == '{' {
			j, brace = j+1, true
		}
		k := j
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if k == j || (brace && (k >= len(s) || s[k] != '}')) {
			return nil, fmt.Errorf("failed to compile the replacement template: invalid capturing variable name")
		}
		n := 0
		for _, d := range s[j:k] {
			n = n*10 + int(d-'0')
		}
		if b.Len() > 0 {
			out = append(out, subPart{lit: b.String(), n: -1})
			b.Reset()
		}
		out = append(out, subPart{n: n})
		i = k - 1
		if brace {
			i = k
		}
	}
	if b.Len() > 0 {
		out = append(out, subPart{lit: b.String(), n: -1})
	}
	return out, nil
}

// Expand appends s for a match of subject (loc: regexp's submatch indexes; a missing or
// unmatched group is empty) to dst.
func (s Sub) Expand(dst, subject []byte, loc []int) []byte {
	for _, p := range s {
		if p.n < 0 {
			dst = append(dst, p.lit...)
			continue
		}
		if k := 2 * p.n; k+1 < len(loc) && loc[k] >= 0 {
			dst = append(dst, subject[loc[k]:loc[k+1]]...)
		}
	}
	return dst
}
