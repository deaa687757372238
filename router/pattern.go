package router

import (
	"regexp"
	"strings"
)

// pathSpec is one entry of a route's uri / uris, with the parameter check
// lua-resty-radixtree runs on prefix matches.
//
// lua-resty-radixtree stores a path in a hash when it is exact and in a
// radix tree under its literal prefix otherwise: the prefix ends at the
// first '*', or, with parameters enabled, at the first ':' if that comes
// first. After a prefix match it splits the path on '/' and, when a segment
// starts with ':' or '*', checks the whole request path against a regex
// built from the segments (':x' is [^/]+, '*x' is anything, other segments
// are inserted unescaped). That check runs in every router mode, so
// "/user/:id/x*" needs it even where ':' is literal.
type pathSpec struct {
	path string
	re   *regexp.Regexp // the segment check, anchored; nil when not needed in any mode
	bad  bool           // the segment regex does not compile: the path never matches as a prefix
	// trivial[i] is true when, in the mode family i (0: host_uri and uri,
	// 1: uri_with_parameter), a prefix match already implies the check.
	trivial [2]bool
}

func modeFamily(m Mode) int {
	if m == ModeURIWithParameter {
		return 1
	}
	return 0
}

func newPathSpec(p string) pathSpec {
	s := pathSpec{path: p}
	if !strings.ContainsAny(p, ":*") {
		s.trivial = [2]bool{true, true} // an exact path, no segment to check
		return s
	}
	_, names, starAt := segmentPattern(p, false)
	need := false
	for fam := range s.trivial {
		key, prefix := pathKey(p, fam == 1)
		s.trivial[fam] = names == 0 ||
			(starAt == len(key) && !strings.ContainsAny(key, `\^$|?*+()[]{}`))
		need = need || (prefix && !s.trivial[fam])
	}
	if need {
		pat, _, _ := segmentPattern(p, true)
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			s.bad = true
		} else {
			s.re = re
		}
	}
	return s
}

// pathKey returns the tree key of p and whether p is a prefix path.
func pathKey(p string, params bool) (key string, prefix bool) {
	if params {
		if i := strings.IndexByte(p, ':'); i >= 0 {
			return p[:i], true
		}
	}
	if i := strings.IndexByte(p, '*'); i >= 0 {
		return p[:i], true
	}
	return p, false
}

// key returns the tree key of the path in mode m and whether it is a prefix.
func (s *pathSpec) key(m Mode) (string, bool) {
	return pathKey(s.path, m == ModeURIWithParameter)
}

// check returns what a prefix match must also satisfy in mode m: nothing,
// the regex s.re, or never (the path can never match as a prefix).
func (s *pathSpec) check(m Mode) check {
	switch {
	case s.trivial[modeFamily(m)]:
		return checkNone
	case s.bad:
		return checkNever
	case s.re != nil:
		return checkRegex
	}
	return checkNone
}

// segmentPattern builds lua-resty-radixtree's segment regex for p (when
// build is set). names counts the ':' and '*' segments; starAt is the
// offset of the '*' when the last segment is a '*' one and ends p (-1
// otherwise).
func segmentPattern(p string, build bool) (pat string, names, starAt int) {
	starAt = -1
	items := strings.Split(p, "/")
	for len(items) > 0 && items[len(items)-1] == "" { // ngx.re.split drops trailing empty fields
		items = items[:len(items)-1]
	}
	var b strings.Builder
	off := 0
	for i, it := range items {
		if i > 0 {
			write(&b, build, `\/`)
			off++
		}
		switch {
		case strings.HasPrefix(it, ":"):
			names++
			write(&b, build, `([^\/]+)`)
		case strings.HasPrefix(it, "*"):
			names++
			write(&b, build, `((?s:.)*)`)
			if i == len(items)-1 && !strings.HasSuffix(p, "/") {
				starAt = off
			}
		default:
			write(&b, build, it)
		}
		off += len(it)
	}
	if strings.HasSuffix(p, "/") {
		write(&b, build, `\/`)
	}
	return b.String(), names, starAt
}

func write(b *strings.Builder, build bool, s string) {
	if build {
		b.WriteString(s)
	}
}
