package main

import (
	"fmt"
	"net"
	"sync"

	"golang.org/x/sys/unix"
)

// server is a set of event loops serving one address.
type server struct {
	addr  string // the address listened on, with the port the kernel chose for port 0
	loops []*loop
	wg    sync.WaitGroup
}

// start listens on addr with n event loops forwarding to upstream (host:port, IP literals).
func start(addr, upstream string, n int) (*server, error) {
	la, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-addr: %w", err)
	}
	ua, err := net.ResolveTCPAddr("tcp", upstream)
	if err != nil {
		return nil, fmt.Errorf("-upstream: %w", err)
	}
	s := &server{}
	for i := range n {
		l, err := newLoop(la, ua)
		if err != nil {
			s.discard()
			return nil, err
		}
		s.loops = append(s.loops, l)
		if i == 0 {
			sa, err := unix.Getsockname(l.lfd)
			if err != nil {
				s.discard()
				return nil, err
			}
			// The other loops bind the port the first one got.
			switch sa := sa.(type) {
			case *unix.SockaddrInet4:
				la.Port = sa.Port
			case *unix.SockaddrInet6:
				la.Port = sa.Port
			}
			s.addr = la.String()
		}
	}
	for _, l := range s.loops {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			l.run()
		}()
	}
	return s, nil
}

func sockaddr(a *net.TCPAddr) (unix.Sockaddr, int) {
	if ip4 := a.IP.To4(); ip4 != nil || a.IP == nil {
		sa := &unix.SockaddrInet4{Port: a.Port}
		copy(sa.Addr[:], ip4)
		return sa, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: a.Port}
	copy(sa.Addr[:], a.IP.To16())
	return sa, unix.AF_INET6
}

func newLoop(la, ua *net.TCPAddr) (*loop, error) {
	// Each loop has its own upstream sockaddr: unix.Connect writes into it.
	upstream, upFamily := sockaddr(ua)
	l := &loop{ep: -1, lfd: -1, wake: -1, upstream: upstream, family: upFamily,
		buf: make([]byte, bufSize), events: make([]unix.EpollEvent, 256)}
	var err error
	if l.ep, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	fail := func(what string, err error) (*loop, error) {
		l.shutdown()
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	sa, family := sockaddr(la)
	if l.lfd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		return fail("socket", err)
	}
	for _, opt := range []int{unix.SO_REUSEADDR, unix.SO_REUSEPORT} {
		if err = unix.SetsockoptInt(l.lfd, unix.SOL_SOCKET, opt, 1); err != nil {
			return fail("setsockopt", err)
		}
	}
	if err = unix.Bind(l.lfd, sa); err != nil {
		return fail("bind "+la.String(), err)
	}
	if err = unix.Listen(l.lfd, 4096); err != nil {
		return fail("listen", err)
	}
	if l.wake, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fail("eventfd", err)
	}
	// The listening socket is level-triggered (see accept); the wake-up only ends the loop.
	for _, fd := range []int{l.lfd, l.wake} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err = unix.EpollCtl(l.ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			return fail("epoll_ctl", err)
		}
	}
	return l, nil
}

// close stops the loops and closes every socket they hold.
func (s *server) close() {
	var one = [8]byte{1}
	for _, l := range s.loops {
		unix.Write(l.wake, one[:])
	}
	s.wg.Wait()
}

// discard closes the sockets of loops that never ran.
func (s *server) discard() {
	for _, l := range s.loops {
		l.shutdown()
	}
}
