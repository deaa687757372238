//go:build !linux

package proxy

import "errors"

// poller is Linux's epoll; elsewhere idle connections are not parked.
type poller struct{}

func newPoller() (*poller, error) { return nil, errors.New("parking idle connections needs epoll") }

func (*poller) add(int) error           { return nil }
func (*poller) del(int)                 {}
func (*poller) wait(func(fd int)) error { return nil }
func (*poller) close() error            { return nil }
