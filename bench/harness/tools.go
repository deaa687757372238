package harness

import (
	"errors"
	"os/exec"
)

// tools are the external programs the harness runs; nginx and taskset are optional.
type tools struct {
	wrk, nginx, taskset, h2load string
}

// errNoWrk means wrk is not installed: nothing can be measured.
var errNoWrk = errors.New("wrk is not installed (bench/run.sh installs Debian's wrk with apt-get)")

func findTools() (tools, []string, error) {
	var t tools
	var notes []string
	var err error
	if t.wrk, err = exec.LookPath("wrk"); err != nil {
		return t, nil, errNoWrk
	}
	if t.nginx, err = exec.LookPath("nginx"); err != nil {
		// Debian puts it in /usr/sbin, which is not on every user's PATH.
		if t.nginx, err = exec.LookPath("/usr/sbin/nginx"); err != nil {
			t.nginx = ""
			notes = append(notes, "nginx is not installed: the nginx peer is skipped and no ratio to nginx is given")
		}
	}
	if t.h2load, err = exec.LookPath("h2load"); err != nil {
		t.h2load = ""
		notes = append(notes, "h2load is not installed (Debian's nghttp2-client): the HTTP/2 scenario is skipped")
	}
	if t.taskset, err = exec.LookPath("taskset"); err != nil {
		t.taskset = ""
		notes = append(notes, "taskset is not installed: nothing is pinned, figures are not comparable with pinned runs")
	}
	return t, notes, nil
}

// pin returns the argv prefix that runs a command on cpu, or nil without taskset.
func (t tools) pin(cpu string) []string {
	if t.taskset == "" || cpu == "" {
		return nil
	}
	return []string{t.taskset, "-c", cpu}
}
