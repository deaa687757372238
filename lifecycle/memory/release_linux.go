package memory

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// releaseText drops the executable's read-only mappings (code; constants, type data and the
// runtime's function tables) from the process's page tables with madvise(MADV_DONTNEED). They
// are private, never written, file-backed pages: the next access maps them again from the page
// cache, which still holds them, so nothing changes but the resident set. Writable mappings
// (data, bss) are left alone: for them the call would discard what the program wrote. It returns
// the bytes advised.
func releaseText() (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	total := 0
	for _, m := range readOnlyMappings(maps, exe) {
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, m.start, m.end-m.start, syscall.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("madvise %#x-%#x: %w", m.start, m.end, errno)
		}
		total += int(m.end - m.start)
	}
	return total, nil
}

// mapping is an address range of the process.
type mapping struct{ start, end uintptr }

// readOnlyMappings returns the private read-only mappings of the file path in a /proc/self/maps
// listing ("start-end perms offset dev inode path"). A deleted or replaced file is not path any
// more and yields none.
func readOnlyMappings(maps []byte, path string) []mapping {
	var out []mapping
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) != 6 || string(f[5]) != path {
			continue
		}
		if perms := string(f[1]); perms != "r-xp" && perms != "r--p" {
			continue
		}
		lo, hi, ok := bytes.Cut(f[0], []byte("-"))
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(string(lo), 16, 64)
		end, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		out = append(out, mapping{uintptr(start), uintptr(end)})
	}
	return out
}

// residentKiB is the process's resident set size (VmRSS), 0 if unknown.
func residentKiB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			n, _ := strconv.Atoi(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(v), []byte("kB")))))
			return n
		}
	}
	return 0
}
