package main

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The loop's sockets are non-blocking, so their system calls never wait: they go through
// RawSyscall, without the Go scheduler's entersyscall/exitsyscall bookkeeping around each.
// epoll_wait, which does wait, goes through unix.EpollWait, which has it.

func sysRead(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

func sysWrite(fd int, p []byte) (int, unix.Errno) {
	r, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(r), e
}

// sysWritev writes a then b with one writev; iov is the caller's, so that nothing escapes.
func sysWritev(fd int, iov *[2]unix.Iovec, a, b []byte) (int, unix.Errno) {
	iov[0].Base, iov[0].Len = &a[0], uint64(len(a))
	iov[1].Base, iov[1].Len = &b[0], uint64(len(b))
	r, _, e := unix.RawSyscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), 2)
	iov[0].Base, iov[1].Base = nil, nil
	return int(r), e
}

func sysAccept(lfd int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_ACCEPT4, uintptr(lfd), 0, 0, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	return int(r), e
}

func sysEpollCtl(ep, op, fd int, ev *unix.EpollEvent) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	return e
}

func sysClose(fd int) {
	unix.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

var one = int32(1)

// setNoDelay turns Nagle's algorithm off, as Go's net package and nginx's tcp_nodelay do: the tail
// of a response larger than one segment must not wait for the acknowledgement of the first.
func setNoDelay(fd int) {
	unix.RawSyscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY, uintptr(unsafe.Pointer(&one)), 4, 0)
}

func sysEpollWait(ep int, events []unix.EpollEvent, msec int) (int, unix.Errno) {
	r, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), uintptr(msec), 0, 0)
	return int(r), e
}
