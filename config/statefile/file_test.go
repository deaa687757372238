package statefile

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/zoneproxy/zoneproxy/config/state"
)

func sampleState() *state.State {
	return &state.State{
		Revision: 42, ClusterID: 0xabc, Endpoint: "https://127.0.0.1:7943",
		KVs: state.NewKVs(map[string]state.KV{
			"/apisix/routes/1":    {Key: "/apisix/routes/1", Value: []byte(`{"uri":"/a"}`), ModRevision: 40},
			"/apisix/upstreams/1": {Key: "/apisix/upstreams/1", Value: []byte("\x00binary\xff"), ModRevision: 41},
			"/apisix/routes/":     {Key: "/apisix/routes/", Value: []byte("init_dir"), ModRevision: 2},
		}),
	}
}

func TestFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", FileName)
	in := sampleState()
	if err := Write(path, "/apisix", in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(path, "/apisix")
	if err != nil {
		t.Fatal(err)
	}
	if out.Revision != 42 || out.ClusterID != 0xabc || out.Source != state.SourceStateFile || out.Updated.IsZero() ||
		out.Endpoint != in.Endpoint || out.KVs.Len() != in.KVs.Len() {
		t.Fatalf("read back %+v", out)
	}
	for k, kv := range in.KVs.All() {
		if got, _ := out.KVs.Get(k); !bytes.Equal(got.Value, kv.Value) || got.ModRevision != kv.ModRevision || got.Key != k {
			t.Errorf("%s: %+v, want %+v", k, got, kv)
		}
	}
	// Writing again replaces the file atomically and leaves no temporary file behind.
	in.Revision = 43
	if err := Write(path, "/apisix", in); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the state file", len(entries))
	}
}

func TestFileRejectsCorruptAndForeignFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := Write(good, "/apisix", sampleState()); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	tests := []struct {
		name   string
		data   []byte
		prefix string
		want   string
	}{
		{"truncated", data[:len(data)-3], "/apisix", "corrupt"},
		{"a changed byte inside", bytes.Replace(data, []byte(`{"uri":"/a"}`), []byte(`{"uri":"/b"}`), 1), "/apisix", "checksum mismatch"},
		{"not a snapshot", []byte("garbage\nmore"), "/apisix", "corrupt"},
		{"empty", nil, "/apisix", "corrupt"},
		{"another format", bytes.Replace(data, []byte("zoneproxy-snapshot/2"), []byte("zoneproxy-snapshot/9"), 1), "/apisix", "foreign file: format"},
		{"another prefix", data, "/other", "foreign file: prefix"},
	}
	// A body with the right length and checksum whose records do not parse.
	garbage := []byte{0xff, 0xff, 0xff}
	sum := sha256.Sum256(garbage)
	tests = append(tests, struct {
		name   string
		data   []byte
		prefix string
		want   string
	}{"records that do not parse", append([]byte(fmt.Sprintf(`{"format":"zoneproxy-snapshot/2","prefix":"/apisix","revision":5,"keys":1,"body_bytes":3,"sha256":%q}`+"\n",
		hex.EncodeToString(sum[:]))), garbage...), "/apisix", "bad record"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "a changed byte inside" && bytes.Equal(tt.data, data) {
				t.Fatal("test data did not change")
			}
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "_"))
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			st, err := Read(path, tt.prefix)
			if err == nil || !strings.Contains(err.Error(), tt.want) || st != nil {
				t.Errorf("Read = %v, %v; want an error containing %q", st, err, tt.want)
			}
		})
	}
	if _, err := Read(filepath.Join(dir, "missing"), "/apisix"); !errors.Is(err, ErrNoFile) {
		t.Errorf("missing file: %v, want ErrNoFile", err)
	}
}

// state10k is a State of 10,000 routes, at revision 10,000.
func state10k() *state.State {
	kvs := map[string]state.KV{}
	for i := 0; i < 10_000; i++ {
		k := "/apisix/routes/" + itoa(i)
		kvs[k] = state.KV{Key: k, ModRevision: int64(i + 1),
			Value: []byte(`{"uri":"/api/v1/resource/` + itoa(i) + `/*","methods":["GET","POST"],"upstream_id":"1","priority":0}`)}
	}
	return &state.State{Revision: 10_000, KVs: state.NewKVs(kvs)}
}

func BenchmarkWrite10k(b *testing.B) {
	st := state10k()
	path := filepath.Join(b.TempDir(), FileName)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Write(path, "/apisix", st); err != nil {
			b.Fatal(err)
		}
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

// FuzzParse: no input makes the reader panic, and what it accepts writes back to the same
// State.
func FuzzParse(f *testing.F) {
	path := filepath.Join(f.TempDir(), "seed")
	if err := Write(path, "/apisix", sampleState()); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte("{}\n"))
	f.Add([]byte(`{"format":"zoneproxy-snapshot/2","prefix":"/apisix","revision":1,"keys":0,"body_bytes":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, _, err := parse(data, "fuzz", "/apisix")
		if err != nil {
			return
		}
		out := filepath.Join(t.TempDir(), "again")
		if err := Write(out, "/apisix", st); err != nil {
			t.Fatal(err)
		}
		again, err := Read(out, "/apisix")
		if err != nil {
			t.Fatalf("accepted input does not read back: %v", err)
		}
		sameState(t, "accepted input written and read back", again, st)
	})
}

// TestReadFallsBackToTheLegacyName: a data directory written before the state file got its name
// (config-snapshot.bin and its journal) is read when config-state.bin is missing, and ignored once
// config-state.bin exists.
func TestReadFallsBackToTheLegacyName(t *testing.T) {
	dir := t.TempDir()
	legacy := journalStates()
	w := NewWriter(filepath.Join(dir, legacyFileName), "/apisix", 0, nil)
	t.Cleanup(w.closeJournal)
	w.write(legacy[0])
	w.write(legacy[1]) // a journal record on top of the legacy file
	if _, err := os.Stat(filepath.Join(dir, "config-snapshot.journal")); err != nil {
		t.Fatalf("the legacy journal was not written: %v", err)
	}

	path := filepath.Join(dir, FileName)
	got, err := Read(path, "/apisix")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "the legacy file and journal", got, legacy[1])

	if err := Write(path, "/apisix", legacy[2]); err != nil {
		t.Fatal(err)
	}
	if got, err = Read(path, "/apisix"); err != nil {
		t.Fatal(err)
	}
	sameState(t, "the state file beside a legacy one", got, legacy[2])

	if _, err := Read(filepath.Join(t.TempDir(), FileName), "/apisix"); !errors.Is(err, ErrNoFile) {
		t.Errorf("an empty directory: %v, want ErrNoFile", err)
	}
}

// TestWriteBodyYields: encoding a large configuration lets another goroutine run before it
// finishes, even on a single processor.
func TestWriteBodyYields(t *testing.T) {
	m := map[string]state.KV{}
	for i := range 4 * yieldEvery {
		k := fmt.Sprintf("/apisix/routes/%d", i)
		m[k] = state.KV{Key: k, Value: []byte("{}"), ModRevision: int64(i + 1)}
	}
	ordered := state.NewKVs(m).Sorted()
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var ran atomic.Bool
	go func() { ran.Store(true) }() // runnable, but this goroutine keeps the processor
	writeBody(bufio.NewWriter(io.Discard), ordered)
	if !ran.Load() {
		t.Errorf("no other goroutine ran while writeBody worked")
	}
}
