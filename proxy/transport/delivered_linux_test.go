//go:build linux

package transport

import (
	"net"
	"syscall"
	"testing"
	"unsafe"
)

// waitDelivered waits until everything written on c has reached its peer (on loopback: sits in
// the peer's receive buffer): the socket's send queue (SIOCOUTQ) is empty.
func waitDelivered(t *testing.T, c net.Conn) {
	t.Helper()
	rc, err := c.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "the upstream's bytes to reach the proxy", func() bool {
		var n int32
		var errno syscall.Errno
		_ = rc.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n)))
		})
		return errno == 0 && n == 0
	})
}
