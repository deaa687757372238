// Package bodytest runs a plugin.BodyFilter over a body the way the proxy streams one, for the
// body filters' table tests.
package bodytest

import "github.com/zoneproxy/zoneproxy/proxy/plugin"

// Run passes body through f in pieces of size piece (the last call with eof), as the proxy
// does, and returns f's output and how much of body f took before it asked for no more.
func Run(f plugin.BodyFilter, body []byte, piece int) (out []byte, taken int) {
	var buf []byte
	for {
		n := min(piece, len(body)-taken)
		eof := taken+n == len(body)
		var done bool
		buf, done = f.Filter(buf[:0], body[taken:taken+n], eof)
		out = append(out, buf...)
		taken += n
		if done || eof {
			return out, taken
		}
	}
}
