package ngxescape

import (
	"bytes"
	"testing"
)

func TestAppend(t *testing.T) {
	const in = "/a b#c%d?e\x01\x7f\xc3\xa9~"
	tests := []struct {
		name string
		set  *Set
		want string
	}{
		{"URI", URI, "/a%20b%23c%25d%3Fe%01%7F%C3%A9~"},
		{"Control", Control, "/a b#c%d?e%01%7F\xc3\xa9~"},
		{"UnsafeURI", UnsafeURI, "/a%20b#c%d?e%01%7F\xc3\xa9~"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.set.Append([]byte("x"), []byte(in))); got != "x"+tt.want {
				t.Errorf("Append = %q, want %q", got, "x"+tt.want)
			}
		})
	}
}

// TestAppendFromItself: src may be the tail of dst, as the plugins escape in their scratch
// buffer; the result is the same whether or not dst has room.
func TestAppendFromItself(t *testing.T) {
	for _, room := range []int{0, 64} {
		buf := make([]byte, 0, len("pre /a b")+room)
		buf = append(buf, "pre /a b"...)
		out := URI.Append(buf, buf[4:])
		if got := string(out[len("pre /a b"):]); got != "/a%20b" {
			t.Errorf("room %d: escaped %q", room, got)
		}
		if !bytes.HasPrefix(out, []byte("pre /a b")) {
			t.Errorf("room %d: the source changed: %q", room, out)
		}
	}
}

func TestAppendAllocatesNothingWithRoom(t *testing.T) {
	dst := make([]byte, 0, 256)
	src := []byte("/path with space?q=1")
	if n := testing.AllocsPerRun(100, func() { dst = URI.Append(dst[:0], src) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
