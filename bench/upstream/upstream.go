package upstream

import (
	"bytes"
	"strconv"

	"github.com/valyala/fasthttp"
)

// Body sizes served by a Server.
const (
	SmallSize = 100      // any path not named below
	KiBSize   = 1 << 10  // a path ending in "/1k"
	LargeSize = 64 << 10 // a path ending in "/64k"
)

// Server answers with fixed JSON bodies. It is immutable after New and safe for concurrent use.
type Server struct {
	small, kib, large []byte
}

// New builds the bodies.
func New() *Server {
	return &Server{small: JSON(SmallSize), kib: JSON(KiBSize), large: JSON(LargeSize)}
}

// Body returns the body served for path. The slice is shared: callers must not modify it.
func (s *Server) Body(path []byte) []byte {
	switch {
	case bytes.HasSuffix(path, []byte("/64k")):
		return s.large
	case bytes.HasSuffix(path, []byte("/1k")):
		return s.kib
	default:
		return s.small
	}
}

// Handler is the fasthttp request handler.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	// The bodies are never modified, so the response may refer to them instead of copying.
	ctx.Response.SetBodyRaw(s.Body(ctx.Path()))
}

// JSON returns a JSON object of exactly n bytes (n is raised to the smallest such object).
func JSON(n int) []byte {
	head := `{"status":"ok","size":` + strconv.Itoa(n) + `,"pad":"`
	tail := `"}`
	pad := n - len(head) - len(tail)
	if pad < 0 {
		pad = 0
	}
	b := make([]byte, 0, len(head)+pad+len(tail))
	b = append(b, head...)
	for i := 0; i < pad; i++ {
		b = append(b, 'a'+byte(i%26))
	}
	return append(b, tail...)
}
