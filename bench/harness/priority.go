package harness

import (
	"os"
	"strconv"
	"syscall"
)

// childAttr is how the harness starts a child: killed if the harness dies first and, when the run is
// reniced, in a session of its own, so that it has its own scheduler autogroup (on kernels with
// sched_autogroup, nice values only rank threads within one autogroup: a session).
func childAttr(nice int) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: nice != 0}
}

// setAutogroupNice gives a child's autogroup the run's priority against the machine's other sessions.
// Kernels without autogroups have no such file; the child then keeps the thread priority it inherited.
func setAutogroupNice(pid, nice int) {
	if nice == 0 {
		return
	}
	_ = os.WriteFile("/proc/"+strconv.Itoa(pid)+"/autogroup", []byte(strconv.Itoa(nice)), 0)
}
