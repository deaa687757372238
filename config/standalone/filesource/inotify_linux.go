//go:build linux

package filesource

import (
	"os"
	"path/filepath"
	"syscall"
)

// watch reports, on the returned channel, the changes inotify sees in the directory of path: a
// file written and closed, moved in or out, created, deleted or its attributes changed. The
// directory is watched, not the file, so that a rename over the file or a symlink swapped in the
// directory (Kubernetes' ..data) is seen. A burst of events is one signal. stop closes the watch.
func watch(path string) (<-chan struct{}, func(), error) {
	fd, err := syscall.InotifyInit1(syscall.IN_NONBLOCK | syscall.IN_CLOEXEC)
	if err != nil {
		return nil, nil, err
	}
	const mask = syscall.IN_CLOSE_WRITE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM | syscall.IN_CREATE |
		syscall.IN_DELETE | syscall.IN_ATTRIB | syscall.IN_DELETE_SELF | syscall.IN_MOVE_SELF
	if _, err := syscall.InotifyAddWatch(fd, filepath.Dir(path), mask); err != nil {
		syscall.Close(fd)
		return nil, nil, err
	}
	// A non-blocking descriptor is pollable: Read parks on the runtime poller and Close wakes it.
	f := os.NewFile(uintptr(fd), "inotify")
	ch := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64*(syscall.SizeofInotifyEvent+syscall.NAME_MAX+1))
		for {
			if _, err := f.Read(buf); err != nil {
				return
			}
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}()
	return ch, func() { f.Close(); <-done }, nil
}
