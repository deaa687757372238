package harness

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of the times in /proc (USER_HZ): 100 on Linux for every architecture we run on.
const userHZ = 100

// procTimes is a process's CPU time and parent, from /proc/<pid>/stat.
type procTimes struct {
	utime, stime int64 // in 1/userHZ s
	ppid         int
}

// parseProcStat reads /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from the last ')'.
func parseProcStat(b []byte) (procTimes, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("/proc stat: no ')' in %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ppid(4) ... utime(14) stime(15).
	if len(f) < 13 {
		return procTimes{}, fmt.Errorf("/proc stat: %d fields after the name, want at least 13", len(f))
	}
	var t procTimes
	var err error
	if t.ppid, err = strconv.Atoi(f[1]); err != nil {
		return t, fmt.Errorf("/proc stat: ppid: %w", err)
	}
	if t.utime, err = strconv.ParseInt(f[11], 10, 64); err != nil {
		return t, fmt.Errorf("/proc stat: utime: %w", err)
	}
	if t.stime, err = strconv.ParseInt(f[12], 10, 64); err != nil {
		return t, fmt.Errorf("/proc stat: stime: %w", err)
	}
	return t, nil
}

// procMem is a process's resident memory, from /proc/<pid>/status, in KiB.
type procMem struct{ rss, hwm int64 }

func parseProcStatus(b []byte) (procMem, error) {
	var m procMem
	var seen int
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return m, fmt.Errorf("/proc status: %s: %q", name, rest)
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("/proc status: %s: %w", name, err)
		}
		if name == "VmRSS" {
			m.rss = v
		} else {
			m.hwm = v
		}
		seen++
	}
	if seen != 2 {
		return m, fmt.Errorf("/proc status: VmRSS or VmHWM missing")
	}
	return m, nil
}

func readProcTimes(pid int) (procTimes, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procTimes{}, err
	}
	return parseProcStat(b)
}

func readProcMem(pid int) (procMem, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return procMem{}, err
	}
	return parseProcStatus(b)
}

// processTree returns pid and its direct children (nginx's master and its worker).
func processTree(pid int) []int {
	out := []int{pid}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil || child == pid {
			continue
		}
		if t, err := readProcTimes(child); err == nil && t.ppid == pid {
			out = append(out, child)
		}
	}
	return out
}

// cpuTicks sums the CPU time of pids, in 1/userHZ s; a process that is gone counts nothing.
func cpuTicks(pids []int) int64 {
	var n int64
	for _, p := range pids {
		if t, err := readProcTimes(p); err == nil {
			n += t.utime + t.stime
		}
	}
	return n
}

// memKiB sums the resident memory of pids.
func memKiB(pids []int) procMem {
	var m procMem
	for _, p := range pids {
		if x, err := readProcMem(p); err == nil {
			m.rss += x.rss
			m.hwm += x.hwm
		}
	}
	return m
}

// cpuStat is one CPU's line of /proc/stat, in 1/userHZ s.
type cpuStat struct{ total, idle, irq, steal int64 }

// parseCPUStat finds the line of cpu (e.g. "0") in /proc/stat.
func parseCPUStat(b []byte, cpu string) (cpuStat, error) {
	want := "cpu" + cpu
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || f[0] != want {
			continue
		}
		var s cpuStat
		// user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
		for i := 1; i <= 8; i++ {
			v, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return s, fmt.Errorf("/proc/stat: %s field %d: %w", want, i, err)
			}
			s.total += v
			switch i {
			case 4, 5:
				s.idle += v
			case 6, 7:
				s.irq += v
			case 8:
				s.steal = v
			}
		}
		return s, nil
	}
	return cpuStat{}, fmt.Errorf("/proc/stat: no line for %s", want)
}

// readCPUStat sums the /proc/stat lines of cpus, a comma-separated list ("0" or "0,1").
func readCPUStat(cpus string) (cpuStat, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}, err
	}
	var sum cpuStat
	for _, cpu := range strings.Split(cpus, ",") {
		s, err := parseCPUStat(b, cpu)
		if err != nil {
			return sum, err
		}
		sum.total, sum.idle, sum.irq, sum.steal = sum.total+s.total, sum.idle+s.idle, sum.irq+s.irq, sum.steal+s.steal
	}
	return sum, nil
}
