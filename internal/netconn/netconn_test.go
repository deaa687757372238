package netconn

import (
	"crypto/tls"
	"net"
	"testing"
)

// wrapper is a connection wrapper that tells what it wraps, as the proxy's do.
type wrapper struct{ net.Conn }

func (w *wrapper) NetConn() net.Conn { return w.Conn }

// hijacked tells what it wraps as fasthttp's hijacked connection does.
type hijacked struct{ net.Conn }

func (h *hijacked) UnsafeConn() net.Conn { return h.Conn }

// opaque wraps without telling.
type opaque struct{ net.Conn }

func TestFind(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	inner := &wrapper{Conn: a}
	tc := tls.Server(&wrapper{Conn: inner}, &tls.Config{})
	if got, ok := Find[*wrapper](tc); !ok || got.Conn != inner {
		t.Fatalf("through TLS: %v %v, want the outer wrapper under TLS", got, ok)
	}
	if got, ok := Find[*tls.Conn](tc); !ok || got != tc {
		t.Fatal("the connection itself is found")
	}
	if _, ok := Find[*wrapper](&opaque{Conn: inner}); ok {
		t.Fatal("found through a wrapper that does not tell")
	}
	if cw, ok := Find[interface{ CloseWrite() error }](&hijacked{Conn: tc}); !ok || cw != tc {
		t.Fatal("a method is found through an UnsafeConn wrapper: TLS's CloseWrite")
	}
	var deep net.Conn = a
	for range maxDepth + 1 {
		deep = &opaque{Conn: deep}
	}
	if _, ok := Find[*wrapper](deep); ok {
		t.Fatal("found past the depth")
	}
}
