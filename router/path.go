package router

import (
	"github.com/valyala/fasthttp"
)

// Path normalisation.
//
// APISIX matches routes against nginx's $uri: the request path
// percent-decoded, with "//" merged (merge_slashes on), "/./" removed and
// "/x/../" resolved, by ngx_http_parse_complex_uri. fasthttp's ctx.Path()
// gives the same bytes for every path nginx accepts (TestNormalizePath and
// FuzzNormalizePath pin this against a port of nginx's state machine), so
// the router matches on ctx.Path() without a copy. The difference is in the
// paths nginx refuses with 400 Bad Request and fasthttp "fixes": an invalid
// or truncated %-escape, an encoded NUL (%00), and a ".." that climbs above
// the root ("/../etc/passwd" becomes "/etc/passwd"). pathRejected finds
// those in one pass over the raw path, only when the path holds '%', "//"
// or "/." at all.

// needsNormalizing reports whether nginx would change or reject raw: it
// does not start with '/', or holds '%', "//", "/." or a NUL.
func needsNormalizing(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '/' {
		return true
	}
	for i, c := range raw {
		switch c {
		case '%', 0:
			return true
		case '/':
			if i+1 < len(raw) && (raw[i+1] == '/' || raw[i+1] == '.') {
				return true
			}
		}
	}
	return false
}

// pathRejected reports whether nginx answers 400 for the raw path (no query
// string): it runs ngx_http_parse_complex_uri's states, counting segments
// instead of writing them out.
func pathRejected(raw []byte) bool {
	if !needsNormalizing(raw) {
		return false
	}
	const (
		usual = iota
		slash
		dot
		dotDot
	)
	state, depth := usual, 0
	if len(raw) == 0 || raw[0] != '/' {
		state = slash // nginx writes the missing '/' first
	}
	for i := 0; i < len(raw); {
		ch := raw[i]
		i++
		if ch == 0 {
			return true
		}
		if ch == '%' {
			if i+2 > len(raw) {
				return true
			}
			hi, ok1 := unhex(raw[i])
			lo, ok2 := unhex(raw[i+1])
			if !ok1 || !ok2 {
				return true
			}
			i += 2
			ch = hi<<4 | lo
			switch ch {
			case 0:
				return true
			case '%', '#', '?':
				// Written literally; never part of a dot segment.
				if state != usual {
					depth++
				}
				state = usual
				continue
			}
			// Any other decoded byte goes through the states as if sent
			// raw: %2F is a '/', %2E a '.'.
		}
		switch state {
		case usual:
			if ch == '/' {
				state = slash
			}
		case slash:
			switch ch {
			case '/': // merge_slashes
			case '.':
				state = dot
			default:
				state, depth = usual, depth+1
			}
		case dot:
			switch ch {
			case '/':
				state = slash
			case '.':
				state = dotDot
			default:
				state, depth = usual, depth+1
			}
		case dotDot:
			switch ch {
			case '/':
				if depth == 0 {
					return true
				}
				state, depth = slash, depth-1
			default:
				state, depth = usual, depth+1
			}
		}
	}
	return state == dotDot && depth == 0
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// PathRejected reports whether nginx (hence APISIX) would answer 400 Bad
// Request for the request's path: an invalid or truncated %-escape, an
// encoded NUL, or ".." above the root. Match never matches such a request;
// a caller that wants APISIX's status code asks this when Match fails.
func PathRejected(ctx *fasthttp.RequestCtx) bool {
	return pathRejected(ctx.URI().PathOriginal())
}
