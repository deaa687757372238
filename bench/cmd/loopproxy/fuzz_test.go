package main

import (
	"bytes"
	"testing"
)

// FuzzFraming: a head is parsed without panic whatever it holds, and a body's end is found at the
// same byte whether it arrives whole or a few bytes at a time (the reads of a real connection).
func FuzzFraming(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n",
		"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\nnext",
		"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1;x=y\r\na\r\n0\r\n\r\n",
		"HTTP/1.0 204 No Content\r\nKeep-Alive: timeout=5\r\n\r\n",
	} {
		f.Add([]byte(seed), true, uint8(3))
		f.Add([]byte(seed), false, uint8(1))
	}
	f.Fuzz(func(t *testing.T, p []byte, request bool, step uint8) {
		var scan int
		hl, err := headEnd(p, &scan)
		if err != nil {
			return
		}
		h, out, err := parseHead(p[:hl], request, nil)
		if err != nil {
			return
		}
		if !bytes.HasSuffix(out, []byte("\r\n\r\n")) || len(out) > hl {
			t.Fatalf("forwarded head %q from %q", out, p[:hl])
		}
		rest := p[hl:]
		whole := h.body
		n1, done1, err1 := whole.consume(rest)
		pieces := h.body
		n2, done2, err2 := 0, false, error(nil)
		size := int(step%7) + 1
		for i := 0; (i == 0 || i < len(rest)) && !done2 && err2 == nil; i += size {
			piece := rest[i:min(i+size, len(rest))]
			var k int
			k, done2, err2 = pieces.consume(piece)
			n2 += k
			if !done2 && err2 == nil && k != len(piece) {
				t.Fatalf("%d of %d bytes taken without the end", k, len(piece))
			}
		}
		if (err1 == nil) != (err2 == nil) || (err1 == nil && (n1 != n2 || done1 != done2)) {
			t.Fatalf("whole: %d %v %v; in pieces of %d: %d %v %v", n1, done1, err1, size, n2, done2, err2)
		}
	})
}
