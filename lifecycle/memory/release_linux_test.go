package memory

import (
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// TestReadOnlyMappings: only the executable's private read-only mappings are picked.
func TestReadOnlyMappings(t *testing.T) {
	const exe = "/opt/zp/bin/zoneproxy"
	maps := `00400000-00d0e000 r-xp 00000000 08:01 1234 /opt/zp/bin/zoneproxy
00d0e000-01765000 r--p 0090d000 08:01 1234 /opt/zp/bin/zoneproxy
01765000-0183e000 rw-p 01364000 08:01 1234 /opt/zp/bin/zoneproxy
0183e000-03a00000 rw-p 00000000 00:00 0
7f0000000000-7f0000100000 r-xp 00000000 08:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
7f0000200000-7f0000300000 r--s 00000000 08:01 1234 /opt/zp/bin/zoneproxy
7f0000400000-7f0000500000 r-xp 00000000 08:01 1235 /opt/zp/bin/zoneproxy (deleted)
garbage line
`
	got := readOnlyMappings([]byte(maps), exe)
	want := []mapping{{0x400000, 0xd0e000}, {0xd0e000, 0x1765000}}
	if len(got) != len(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mapping %d = %x, want %x", i, got[i], want[i])
		}
	}
}

// TestReleaseText: releasing this test binary's read-only pages shrinks its file-backed resident
// set, and the program runs on (its code comes back from the page cache).
func TestReleaseText(t *testing.T) {
	populate(t)
	before := rssFileKiB(t)
	n, err := releaseText()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no mapping of the executable found")
	}
	after := rssFileKiB(t)
	if after >= before {
		t.Errorf("RssFile %d kB before, %d kB after", before, after)
	}
	// Code and constants used after the release still work.
	runtime.GC()
	if s := strings.Repeat("ab", 3); s != "ababab" {
		t.Errorf("got %q", s)
	}
}

func executableMappings(t *testing.T) []mapping {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	maps := readOnlyMappings(b, exe)
	if len(maps) == 0 {
		t.Fatal("no read-only mapping of the test binary")
	}
	return maps
}

// populate maps every page of the test binary's read-only mappings (MADV_POPULATE_READ, Linux
// 5.14), so that a release has something to take whichever test released them before.
func populate(t *testing.T) {
	t.Helper()
	const madvPopulateRead = 22
	for _, m := range executableMappings(t) {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, madvPopulateRead); errno != 0 {
			t.Logf("cannot populate the test binary's pages (%v): measuring what is mapped", errno)
			return
		}
	}
}

func rssFileKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			var kb int
			for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) {
				kb = kb*10 + int(c-'0')
			}
			return kb
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}
