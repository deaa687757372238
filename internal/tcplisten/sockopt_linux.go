package tcplisten

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// deferAccept sets TCP_DEFER_ACCEPT on a listening socket, as nginx's "listen ... deferred": the
// kernel hands a connection to accept only once its first data (a request line, a ClientHello)
// has arrived, or after about a second without any, with nginx's timeout of 1 s. Every protocol
// the proxy serves starts with the client speaking. Without it Go's first read of each new
// connection mostly finds nothing yet: a read that fails with EAGAIN, a park, an epoll wait and
// a wake-up per connection, which nginx's event loop avoids by waiting for readiness first. A
// connection that never sends anything is not the proxy's until the kernel gives up deferring,
// and is then cut by client_header_timeout as before.
func deferAccept(_, _ string, c syscall.RawConn) error {
	return setInt(c, syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
}

// reusePort sets SO_REUSEPORT (see ReusePort).
func reusePort(c syscall.RawConn) error {
	return setInt(c, syscall.SOL_SOCKET, unix.SO_REUSEPORT, 1)
}

// setInt sets an integer socket option on c's socket.
func setInt(c syscall.RawConn, level, opt, value int) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), level, opt, value)
	}); err != nil {
		return err
	}
	return serr
}
