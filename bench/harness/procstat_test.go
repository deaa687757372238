package harness

import (
	"os"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procTimes
		wantErr bool
	}{
		{"plain", "1234 (zoneproxy) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 8 0 100 0 0",
			procTimes{utime: 250, stime: 75, ppid: 1}, false},
		{"name with spaces and parens", "42 (a) b (c)) R 7 42 42 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 0 0",
			procTimes{utime: 3, stime: 4, ppid: 7}, false},
		{"short", "42 (x) R 7 42", procTimes{}, true},
		{"no name", "42 x R", procTimes{}, true},
		{"bad number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 ten 5 0 0 20 0 1 0 1 0 0", procTimes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseProcStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procMem
		wantErr bool
	}{
		{"both", "Name:\tzoneproxy\nVmPeak:\t 999 kB\nVmHWM:\t   30000 kB\nVmRSS:\t   25000 kB\nThreads:\t5\n", procMem{rss: 25000, hwm: 30000}, false},
		{"kernel thread", "Name:\tkthreadd\nThreads:\t1\n", procMem{}, true},
		{"bad unit", "VmHWM:\t1 MB\nVmRSS:\t1 kB\n", procMem{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcStatus([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseCPUStat(t *testing.T) {
	const stat = "cpu  10 0 10 100 0 0 0 0 0 0\n" +
		"cpu0 100 5 50 1000 20 3 7 2 0 0\n" +
		"cpu1 1 0 1 10 0 0 0 0 0 0\n" +
		"intr 1 2 3\n"
	tests := []struct {
		name    string
		cpu     string
		want    cpuStat
		wantErr bool
	}{
		{"cpu0", "0", cpuStat{total: 1187, idle: 1020, irq: 10, steal: 2}, false},
		{"cpu1", "1", cpuStat{total: 12, idle: 10}, false},
		{"absent", "7", cpuStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUStat([]byte(stat), tt.cpu)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestOwnProcess reads this test's own /proc entries, as the harness reads a server's.
func TestOwnProcess(t *testing.T) {
	pid := os.Getpid()
	t.Run("times", func(t *testing.T) {
		pt, err := readProcTimes(pid)
		if err != nil {
			t.Fatal(err)
		}
		if pt.ppid != os.Getppid() {
			t.Fatalf("ppid %d, want %d", pt.ppid, os.Getppid())
		}
	})
	t.Run("memory", func(t *testing.T) {
		m := memKiB([]int{pid})
		if m.rss <= 0 || m.hwm < m.rss {
			t.Fatalf("rss %d hwm %d", m.rss, m.hwm)
		}
	})
	t.Run("tree holds the process", func(t *testing.T) {
		if tree := processTree(pid); len(tree) == 0 || tree[0] != pid {
			t.Fatalf("tree %v", tree)
		}
	})
}

// TestReadCPUStatSumsCPUs: a list of CPUs reads as the sum of their lines.
func TestReadCPUStatSumsCPUs(t *testing.T) {
	one, err := readCPUStat("0")
	if err != nil {
		t.Skipf("no /proc/stat line for CPU 0: %v", err)
	}
	both, err := readCPUStat("0,0")
	if err != nil {
		t.Fatal(err)
	}
	if both.total < 2*one.total {
		t.Errorf("CPU 0 twice: total %d, less than twice one read's %d", both.total, one.total)
	}
	if _, err := readCPUStat("0,nosuchcpu"); err == nil {
		t.Error("an unknown CPU in the list read without an error")
	}
}
