package router

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// parsedCtx parses "GET <target> HTTP/1.1" as the server does.
func parsedCtx(t testing.TB, target string) *fasthttp.RequestCtx {
	t.Helper()
	var r fasthttp.Request
	raw := "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n"
	if err := r.Read(bufio.NewReader(strings.NewReader(raw))); err != nil {
		t.Fatalf("parse %q: %v", target, err)
	}
	ctx := &fasthttp.RequestCtx{}
	ctx.Init(&r, nil, nil)
	return ctx
}

// normalizePath is the reference port of ngx_http_parse_complex_uri: it
// appends nginx's $uri for the raw path (no query string) to dst; ok is
// false when nginx answers 400 (bad %-escape, %00, ".." above the root).
func normalizePath(dst, raw []byte) (out []byte, ok bool) {
	const (
		usual = iota
		slash
		dot
		dotDot
	)
	start := len(dst)
	state := usual
	if len(raw) == 0 || raw[0] != '/' {
		dst = append(dst, '/')
		state = slash
	}
	// up removes the segment before a "/.." just written (nginx's u -= 4
	// then back to the previous '/'); false when there is none.
	up := func() bool {
		i := len(dst) - 4
		for ; i >= start; i-- {
			if dst[i] == '/' {
				dst = dst[:i+1]
				return true
			}
		}
		return false
	}
	for i := 0; i < len(raw); {
		ch := raw[i]
		i++
		if ch == 0 {
			return dst, false
		}
		if ch == '%' {
			if i+2 > len(raw) {
				return dst, false
			}
			hi, ok1 := unhex(raw[i])
			lo, ok2 := unhex(raw[i+1])
			if !ok1 || !ok2 {
				return dst, false
			}
			i += 2
			ch = hi<<4 | lo
			switch ch {
			case 0:
				return dst, false
			case '%', '#', '?':
				// Kept literally, never part of a dot segment.
				dst = append(dst, ch)
				state = usual
				continue
			}
			// Any other decoded byte goes through the state machine as if
			// it had been sent raw: %2F is a '/', %2E a '.'.
		}
		switch state {
		case usual:
			if ch == '/' {
				state = slash
			}
			dst = append(dst, ch)
		case slash:
			switch ch {
			case '/': // merge_slashes
			case '.':
				state = dot
				dst = append(dst, ch)
			default:
				state = usual
				dst = append(dst, ch)
			}
		case dot:
			switch ch {
			case '/':
				state = slash
				dst = dst[:len(dst)-1]
			case '.':
				state = dotDot
				dst = append(dst, ch)
			default:
				state = usual
				dst = append(dst, ch)
			}
		case dotDot:
			switch ch {
			case '/':
				if !up() {
					return dst, false
				}
				state = slash
			default:
				state = usual
				dst = append(dst, ch)
			}
		}
	}
	switch state {
	case dot:
		dst = dst[:len(dst)-1]
	case dotDot:
		if !up() {
			return dst, false
		}
	}
	return dst, true
}

// TestNormalizePath pins nginx's $uri for raw paths (expected values from
// ngx_http_parse_complex_uri with merge_slashes on) and fasthttp's
// ctx.Path() for the same request: "same" means fasthttp agrees with nginx,
// otherwise the fasthttp value is given. A "" nginx value is a 400.
func TestNormalizePath(t *testing.T) {
	tests := []struct {
		raw, nginx, fasthttp string
	}{
		{raw: "/", nginx: "/", fasthttp: "same"},
		{raw: "/a/b", nginx: "/a/b", fasthttp: "same"},
		{raw: "//a", nginx: "/a", fasthttp: "same"},
		{raw: "/a//b///c", nginx: "/a/b/c", fasthttp: "same"},
		{raw: "/a/./b", nginx: "/a/b", fasthttp: "same"},
		{raw: "/a/.", nginx: "/a/", fasthttp: "same"},
		{raw: "/.", nginx: "/", fasthttp: "same"},
		{raw: "/a/../b", nginx: "/b", fasthttp: "same"},
		{raw: "/a/b/..", nginx: "/a/", fasthttp: "same"},
		{raw: "/a/..", nginx: "/", fasthttp: "same"},
		{raw: "/a/b/../../c", nginx: "/c", fasthttp: "same"},
		{raw: "/a/..//b", nginx: "/b", fasthttp: "same"},
		{raw: "/a//../b", nginx: "/b", fasthttp: "same"},
		{raw: "/a/.../b", nginx: "/a/.../b", fasthttp: "same"},
		{raw: "/a/..b/c", nginx: "/a/..b/c", fasthttp: "same"},
		{raw: "/a/.b", nginx: "/a/.b", fasthttp: "same"},
		{raw: "/a%2Fb", nginx: "/a/b", fasthttp: "same"},
		{raw: "/a%2f%2fb", nginx: "/a/b", fasthttp: "same"},
		{raw: "/a/%2e%2e/b", nginx: "/b", fasthttp: "same"},
		{raw: "/a/%2E/b", nginx: "/a/b", fasthttp: "same"},
		{raw: "/%41%62c", nginx: "/Abc", fasthttp: "same"},
		{raw: "/a%20b", nginx: "/a b", fasthttp: "same"},
		{raw: "/a+b", nginx: "/a+b", fasthttp: "same"},
		{raw: "/a%2Bb", nginx: "/a+b", fasthttp: "same"},
		{raw: "/a%25", nginx: "/a%", fasthttp: "same"},
		{raw: "/a%252e%252e", nginx: "/a%2e%2e", fasthttp: "same"},
		{raw: "/a%3Fb", nginx: "/a?b", fasthttp: "same"},
		{raw: "/a%23b", nginx: "/a#b", fasthttp: "same"},
		{raw: "/.%3F", nginx: "/.?", fasthttp: "same"},
		{raw: "/caf%C3%A9", nginx: "/caf\u00e9", fasthttp: "same"},
		{raw: "/a%0Ab", nginx: "/a\nb", fasthttp: "same"},
		// Where they differ, nginx rejects the request with 400.
		{raw: "/..", nginx: "", fasthttp: "/"},
		{raw: "/../a", nginx: "", fasthttp: "/a"},
		{raw: "/a/../..", nginx: "", fasthttp: "/"},
		{raw: "/a/../../b", nginx: "", fasthttp: "/b"},
		{raw: "/%2e%2e/a", nginx: "", fasthttp: "/a"},
		{raw: "/./..", nginx: "", fasthttp: "/"},
		{raw: "/a%00b", nginx: "", fasthttp: "/a\x00b"},
		{raw: "/a%zzb", nginx: "", fasthttp: "/a%zzb"},
		{raw: "/a%2", nginx: "", fasthttp: "/a%2"},
		{raw: "/a%", nginx: "", fasthttp: "/a%"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, ok := normalizePath(nil, []byte(tt.raw))
			if tt.nginx == "" {
				if ok {
					t.Fatalf("normalizePath(%q) = %q, want rejection", tt.raw, got)
				}
			} else if !ok || string(got) != tt.nginx {
				t.Fatalf("normalizePath(%q) = %q, %v; want %q", tt.raw, got, ok, tt.nginx)
			}
			ctx := parsedCtx(t, tt.raw)
			want := tt.fasthttp
			if want == "same" {
				want = tt.nginx
			}
			if p := string(ctx.Path()); p != want {
				t.Errorf("fasthttp ctx.Path() for %q = %q, pinned %q", tt.raw, p, want)
			}
			if rej := PathRejected(ctx); rej != (tt.nginx == "") {
				t.Errorf("PathRejected(%q) = %v", tt.raw, rej)
			}
		})
	}
}

// FuzzNormalizePath checks, for any path, that the router's nginx
// normalisation never panics, that its output is a fixed point with no
// dot segment or double slash, and that fasthttp's ctx.Path() agrees
// whenever nginx accepts the path.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", "//a/./b/..", "/%2e%2e/", "/a%2Fb%2f..", "/a%25%32%46", "/%", "/a/...", "/%2e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) > 512 {
			return
		}
		out, ok := normalizePath(nil, []byte(raw))
		if pathRejected([]byte(raw)) == ok {
			t.Fatalf("pathRejected(%q) disagrees with the reference (ok=%v)", raw, ok)
		}
		if !ok {
			return
		}
		s := string(out)
		if !strings.HasPrefix(s, "/") || strings.Contains(s, "//") || strings.Contains(s, "/./") ||
			strings.Contains(s, "/../") || strings.HasSuffix(s, "/.") || strings.HasSuffix(s, "/..") {
			t.Fatalf("normalizePath(%q) = %q: not normal", raw, s)
		}
		// Only origin-form targets the server would accept.
		if !strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "//") {
			return
		}
		for i := 0; i < len(raw); i++ {
			if c := raw[i]; c <= ' ' || c == 0x7f || c == '?' || c == '#' {
				return
			}
		}
		var r fasthttp.Request
		if err := r.Read(bufio.NewReader(strings.NewReader("GET " + raw + " HTTP/1.1\r\nHost: x\r\n\r\n"))); err != nil {
			return
		}
		if p := string(r.URI().Path()); p != s {
			t.Fatalf("fasthttp path %q, nginx %q, for %q", p, s, raw)
		}
	})
}
