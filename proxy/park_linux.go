//go:build linux

package proxy

import (
	"errors"
	"os"
	"syscall"
)

// poller waits for parked connections to become readable: an epoll instance of its own, which Go's
// runtime polls like any socket (an epoll descriptor is readable while it has events), so that no
// thread blocks in epoll_wait and a parked connection costs no goroutine. Each descriptor is
// registered level-triggered and one-shot: bytes that arrived before it was registered are
// reported at once, and it reports once.
type poller struct {
	fd     int
	f      *os.File
	events [128]syscall.EpollEvent
}

func newPoller() (*poller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, os.NewSyscallError("setnonblock", err)
	}
	return &poller{fd: fd, f: os.NewFile(uintptr(fd), "idle-park")}, nil
}

func (p *poller) add(fd int) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(fd)}
	return os.NewSyscallError("epoll_ctl", syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_ADD, fd, &ev))
}

func (p *poller) del(fd int) { _ = syscall.EpollCtl(p.fd, syscall.EPOLL_CTL_DEL, fd, nil) }

// wait blocks until some registered descriptors are ready and calls ready with each. It fails
// once the poller is closed.
func (p *poller) wait(ready func(fd int)) error {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return err
	}
	var n int
	var werr error
	err = rc.Read(func(fd uintptr) bool {
		n, werr = syscall.EpollWait(int(fd), p.events[:], 0)
		return n > 0 || (werr != nil && !errors.Is(werr, syscall.EINTR))
	})
	if err != nil {
		return err
	}
	if werr != nil {
		return os.NewSyscallError("epoll_wait", werr)
	}
	for _, ev := range p.events[:n] {
		ready(int(ev.Fd))
	}
	return nil
}

func (p *poller) close() error { return p.f.Close() }
