package testutil

import (
	"net"
	"time"

	"golang.org/x/net/http2"
)

// NextFrame reads frames from fr, the framer of the HTTP/2 client connection c, until match
// returns true (nil error) or the connection ends (its error), for at most within. It
// acknowledges the server's SETTINGS, as a client must.
func NextFrame(c net.Conn, fr *http2.Framer, within time.Duration, match func(http2.Frame) bool) error {
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		if s, ok := f.(*http2.SettingsFrame); ok && !s.IsAck() {
			_ = fr.WriteSettingsAck()
		}
		if match(f) {
			return nil
		}
	}
}
