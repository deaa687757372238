package main

import "syscall"

// deferAccept sets TCP_DEFER_ACCEPT (1 s) on the listening socket, as zoneproxy's proxy.Listen.
func deferAccept(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_DEFER_ACCEPT, 1)
	}); err != nil {
		return err
	}
	return serr
}
