//go:build !linux

package transport

import (
	"net"
	"testing"
)

// waitDelivered cannot look at the send queue here: loopback delivers a write at once in
// practice.
func waitDelivered(*testing.T, net.Conn) {}
