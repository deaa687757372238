package transport

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"testing"
)

// FuzzChunkedBody: the chunked decoder never panics nor yields more than it was given, and it
// decodes exactly what a chunked encoder wrote, whatever the chunk sizes.
// The seed corpus is in testdata/fuzz/FuzzChunkedBody.
func FuzzChunkedBody(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		// Any input as a chunked body.
		c := chunkedBody{br: bufio.NewReaderSize(bytes.NewReader(data), 16)}
		out, _ := io.ReadAll(&c)
		if len(out) > len(data) {
			t.Fatalf("decoded %d bytes out of %d", len(out), len(data))
		}
		// Any input as a payload, encoded in chunks of step bytes, then decoded.
		var enc bytes.Buffer
		w := httputil.NewChunkedWriter(&enc)
		n := int(step%64) + 1
		for rest := data; len(rest) > 0; {
			k := min(n, len(rest))
			_, _ = w.Write(rest[:k])
			rest = rest[k:]
		}
		_ = w.Close()
		enc.WriteString("X-Trailer: 1\r\n\r\nNEXT")
		br := bufio.NewReaderSize(&enc, 16)
		c = chunkedBody{br: br}
		got, err := io.ReadAll(&c)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("decoded %q, %v; want %q", got, err, data)
		}
		if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
			t.Fatalf("left %q after the body, want the next message", rest)
		}
	})
}
