package sysmon

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestEnviron(t *testing.T) {
	tests := []struct {
		name    string
		env     []string
		want    []string
		changed bool
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + Setting}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "B=2"}, []string{"GODEBUG=" + Setting, "B=2"}, true},
		{"other settings", []string{"GODEBUG=gctrace=1"}, []string{"GODEBUG=gctrace=1," + Setting}, true},
		{"schedtrace already", []string{"GODEBUG=gctrace=1,schedtrace=0"}, []string{"GODEBUG=gctrace=1,schedtrace=0"}, false},
		{"schedtrace with a space", []string{"GODEBUG=gctrace=1, schedtrace=1000"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}, false},
		{"a name that ends the same", []string{"GODEBUG=noschedtrace=1"}, []string{"GODEBUG=noschedtrace=1," + Setting}, true},
		{"twice: the first counts", []string{"GODEBUG=x=1", "GODEBUG=schedtrace=0"}, []string{"GODEBUG=x=1," + Setting}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := Environ(tt.env)
			if changed != tt.changed || !slices.Equal(got, tt.want) {
				t.Fatalf("Environ(%q) = %q, %v; want %q, %v", tt.env, got, changed, tt.want, tt.changed)
			}
		})
	}
}

// childEnv marks the test binary run by TestReexec: it re-executes itself and reports.
const childEnv = "ZONEPROXY_SYSMON_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := Reexec(); err != nil {
			fmt.Println("reexec failed:", err)
			os.Exit(3)
		}
		fmt.Printf("pid=%d GODEBUG=%s\n", os.Getpid(), os.Getenv("GODEBUG"))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestReexec runs this test binary, which re-executes itself under the setting (same process,
// same arguments) once, and leaves a GODEBUG that names schedtrace alone.
func TestReexec(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("re-executes on Linux only")
	}
	run := func(godebug string) (pid int, out string) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
		if godebug != "" {
			cmd.Env = append(cmd.Env, "GODEBUG="+godebug)
		}
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("child: %v (%s)", err, b)
		}
		return cmd.Process.Pid, strings.TrimSpace(string(b))
	}
	pid, out := run("gctrace=0")
	if want := fmt.Sprintf("pid=%d GODEBUG=gctrace=0,%s", pid, Setting); out != want {
		t.Errorf("child printed %q, want %q", out, want)
	}
	pid, out = run("schedtrace=0")
	if want := fmt.Sprintf("pid=%d GODEBUG=schedtrace=0", pid); out != want {
		t.Errorf("child printed %q, want %q", out, want)
	}
}
