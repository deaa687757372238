//go:build linux

package cptest

import (
	"fmt"
	"syscall"
)

// reservation holds a loopback TCP port: a socket bound to 127.0.0.1:port
// with SO_REUSEADDR that never listens. Linux lets another SO_REUSEADDR
// socket (every Go listener is one) bind the same port and listen, refuses
// connections while nothing listens, and never hands the port out as an
// ephemeral one, so the port stays ours between a Stop and a Restore.
type reservation struct {
	fd   int
	port int
}

// reservePort reserves port on 127.0.0.1, or a free port when port is 0.
func reservePort(port int) (*reservation, error) {
	syscall.ForkLock.RLock()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, syscall.IPPROTO_TCP)
	if err == nil {
		syscall.CloseOnExec(fd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("cptest: reserve port %d: socket: %w", port, err)
	}
	if err := syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("cptest: reserve port %d: SO_REUSEADDR: %w", port, err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("cptest: reserve port %d: bind: %w", port, err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("cptest: reserve port %d: getsockname: %w", port, err)
	}
	in4, ok := sa.(*syscall.SockaddrInet4)
	if !ok {
		syscall.Close(fd)
		return nil, fmt.Errorf("cptest: reserve port %d: unexpected address %T", port, sa)
	}
	return &reservation{fd: fd, port: in4.Port}, nil
}

// Close releases the port.
func (r *reservation) Close() error {
	if err := syscall.Close(r.fd); err != nil {
		return fmt.Errorf("cptest: release port %d: %w", r.port, err)
	}
	return nil
}
