//go:build !linux

package tcplisten

import "syscall"

// deferAccept is Linux's TCP_DEFER_ACCEPT; elsewhere accept is not deferred.
func deferAccept(_, _ string, _ syscall.RawConn) error { return nil }

// reusePort is Linux's SO_REUSEPORT; elsewhere the port is not shared.
func reusePort(syscall.RawConn) error { return nil }
