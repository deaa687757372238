package statefile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// journalStates are three States that follow one another: the sample State, then one that changes a
// key, adds one and deletes one, then one that changes the added key again.
func journalStates() []*state.State {
	st1 := sampleState()
	st2 := *st1
	st2.Revision = 45
	st2.KVs = st1.KVs.With([]state.KV{
		{Key: "/apisix/routes/1", Value: []byte(`{"uri":"/a2"}`), ModRevision: 43},
		{Key: "/apisix/routes/2", Value: []byte(`{"uri":"/b"}`), ModRevision: 44},
	}, []string{"/apisix/upstreams/1"})
	st3 := st2
	st3.Revision = 47
	st3.KVs = st2.KVs.With([]state.KV{{Key: "/apisix/routes/2", Value: []byte(`{"uri":"/b3"}`), ModRevision: 47}}, nil)
	return []*state.State{st1, &st2, &st3}
}

func sameState(t *testing.T, what string, got, want *state.State) {
	t.Helper()
	if got.Revision != want.Revision || got.ClusterID != want.ClusterID || got.Endpoint != want.Endpoint ||
		got.KVs.Len() != want.KVs.Len() {
		t.Fatalf("%s: revision %d, cluster %x, endpoint %q, %d keys; want %d, %x, %q, %d", what,
			got.Revision, got.ClusterID, got.Endpoint, got.KVs.Len(), want.Revision, want.ClusterID, want.Endpoint, want.KVs.Len())
	}
	for k, kv := range want.KVs.All() {
		if g, ok := got.KVs.Get(k); !ok || g.Key != k || g.ModRevision != kv.ModRevision || !bytes.Equal(g.Value, kv.Value) {
			t.Fatalf("%s: %s = %+v, want %+v", what, k, g, kv)
		}
	}
}

func newTestWriter(t *testing.T) *Writer {
	t.Helper()
	w := NewWriter(filepath.Join(t.TempDir(), FileName), "/apisix", 0, nil)
	t.Cleanup(w.closeJournal)
	return w
}

func (w *Writer) write(st *state.State) {
	w.Save(st)
	w.flush()
}

// journalRevisions reads the journal and returns its records' revisions.
func journalRevisions(t *testing.T, snapPath string) []int64 {
	t.Helper()
	data, err := os.ReadFile(journalPath(snapPath))
	if err != nil {
		t.Fatal(err)
	}
	data = data[bytes.IndexByte(data, '\n')+1:]
	var revs []int64
	for len(data) > 0 {
		var b state.Builder
		n, w := binary.Uvarint(data)
		rev, _, ok := applyRecord(data[w:w+int(n)], 0, &b)
		if !ok {
			t.Fatalf("journal record %d does not parse", len(revs))
		}
		revs = append(revs, rev)
		data = data[w+int(n)+4:]
	}
	return revs
}

func TestJournalRoundTrip(t *testing.T) {
	w := newTestWriter(t)
	states := journalStates()
	w.write(states[0])
	base, err := os.ReadFile(w.path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(w.path, "/apisix")
	if err != nil {
		t.Fatal(err)
	}
	written := got.Updated
	if got.Revision != 42 || len(journalRevisions(t, w.path)) != 0 {
		t.Fatalf("after the first write: revision %d, journal %v; want 42 and an empty journal", got.Revision,
			journalRevisions(t, w.path))
	}
	w.write(states[1])
	w.write(states[2])

	// The changes went to the journal; the state file was not written again.
	if after, _ := os.ReadFile(w.path); !bytes.Equal(after, base) {
		t.Error("the state file was rewritten for a change")
	}
	if revs := journalRevisions(t, w.path); !slices.Equal(revs, []int64{45, 47}) {
		t.Errorf("journal records %v, want revisions [45 47]", revs)
	}
	got, err = Read(w.path, "/apisix")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "read back", got, states[2])
	if got.Source != state.SourceStateFile || got.Updated.Before(written) {
		t.Errorf("source %q, updated %v: want the snapshot, written after the file (%v)", got.Source, got.Updated, written)
	}
	entries, _ := os.ReadDir(filepath.Dir(w.path))
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the state file and its journal", len(entries))
	}
}

// A journal cut anywhere, or damaged in its last record, gives the last State whose record is
// whole: the state file's own, or a later one the writer wrote.
func TestJournalCutShort(t *testing.T) {
	w := newTestWriter(t)
	states := journalStates()
	for _, st := range states {
		w.write(st)
	}
	jpath := journalPath(w.path)
	full, err := os.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	byRev := map[int64]*state.State{42: states[0], 45: states[1], 47: states[2]}
	head := bytes.IndexByte(full, '\n') + 1
	last := int64(0)
	for n := 0; n <= len(full); n++ {
		if err := os.WriteFile(jpath, full[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Read(w.path, "/apisix")
		if err != nil {
			t.Fatalf("journal cut at %d: %v", n, err)
		}
		want, ok := byRev[got.Revision]
		if !ok || got.Revision < last || n < head && got.Revision != 42 {
			t.Fatalf("journal cut at %d of %d: revision %d after %d", n, len(full), got.Revision, last)
		}
		sameState(t, fmt.Sprintf("journal cut at %d", n), got, want)
		last = got.Revision
	}
	if last != 47 {
		t.Fatalf("the whole journal gives revision %d, want 47", last)
	}
	damaged := bytes.Clone(full)
	damaged[len(damaged)-7] ^= 0x20 // inside the last record's payload
	if err := os.WriteFile(jpath, damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Read(w.path, "/apisix")
	if err != nil {
		t.Fatal(err)
	}
	sameState(t, "last record damaged", got, states[1])
}

func TestJournalStartsOver(t *testing.T) {
	t.Run("a journal of another state file is ignored", func(t *testing.T) {
		w := newTestWriter(t)
		states := journalStates()
		for _, st := range states {
			w.write(st)
		}
		other := *states[0]
		other.Revision = 43
		if err := Write(w.path, "/apisix", &other); err != nil {
			t.Fatal(err)
		}
		got, err := Read(w.path, "/apisix")
		if err != nil {
			t.Fatal(err)
		}
		if got.Revision != 43 || got.KVs.Len() != other.KVs.Len() || !got.KVs.Has("/apisix/upstreams/1") {
			t.Fatalf("revision %d with %d keys: the old journal was applied to a new state file", got.Revision, got.KVs.Len())
		}
	})
	t.Run("a full journal", func(t *testing.T) {
		w := newTestWriter(t)
		states := journalStates()
		w.write(states[0])
		w.write(states[1])
		w.journal.limit = w.journal.size // full now
		w.write(states[2])
		h, err := Read(w.path, "/apisix")
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, "read back", h, states[2])
		if revs := journalRevisions(t, w.path); len(revs) != 0 {
			t.Errorf("journal records %v after a whole write, want none", revs)
		}
		if base, _, err := parseFile(w.path); err != nil || base.Revision != 47 {
			t.Errorf("state file at revision %v (%v), want 47", base, err)
		}
	})
	t.Run("another endpoint", func(t *testing.T) {
		w := newTestWriter(t)
		states := journalStates()
		w.write(states[0])
		moved := *states[1]
		moved.Endpoint = "https://127.0.0.2:7943"
		w.write(&moved)
		if base, _, err := parseFile(w.path); err != nil || base.Revision != 45 || base.Endpoint != moved.Endpoint {
			t.Errorf("state file %+v (%v), want revision 45 from the new endpoint", base, err)
		}
	})
	t.Run("the journal cannot be appended to", func(t *testing.T) {
		w := newTestWriter(t)
		states := journalStates()
		w.write(states[0])
		w.journal.f.Close() // the append fails
		w.write(states[1])
		base, _, err := parseFile(w.path)
		if err != nil || base.Revision != 45 {
			t.Fatalf("state file at %v (%v), want the whole State 45 written instead", base, err)
		}
		w.write(states[2])
		got, err := Read(w.path, "/apisix")
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, "after the failed append", got, states[2])
	})
}

func parseFile(path string) (*state.State, fileID, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fileID{}, err
	}
	return parse(data, path, "/apisix")
}

func TestKVsDiff(t *testing.T) {
	m := map[string]state.KV{}
	for i := range 2000 {
		k := fmt.Sprintf("/apisix/routes/%d", i)
		m[k] = state.KV{Key: k, Value: []byte(k), ModRevision: int64(i + 1)}
	}
	s := state.NewKVs(m)
	next := s.With([]state.KV{
		{Key: "/apisix/routes/7", Value: []byte("changed"), ModRevision: 3000},
		{Key: "/apisix/routes/new", Value: []byte("new"), ModRevision: 3001},
		{Key: "/apisix/routes/9", Value: []byte("/apisix/routes/9"), ModRevision: 10}, // unchanged
	}, []string{"/apisix/routes/8", "/apisix/routes/missing"})
	puts, dels := s.Diff(next)
	var keys []string
	for _, kv := range puts {
		keys = append(keys, kv.Key)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"/apisix/routes/7", "/apisix/routes/new"}) || !slices.Equal(dels, []string{"/apisix/routes/8"}) {
		t.Errorf("diff: puts %v, deletes %v", keys, dels)
	}
	if puts, dels := s.Diff(s); len(puts)+len(dels) != 0 {
		t.Errorf("diff with itself: %d puts, %d deletes", len(puts), len(dels))
	}
	// Equal content in shards that are not shared is no change either.
	if puts, dels := s.Diff(state.NewKVs(m)); len(puts)+len(dels) != 0 {
		t.Errorf("diff with a copy: %d puts, %d deletes", len(puts), len(dels))
	}
	if puts, dels := s.Diff(state.KVs{}); len(puts) != 0 || len(dels) != 2000 {
		t.Errorf("diff with nothing: %d puts, %d deletes", len(puts), len(dels))
	}
	if puts, dels := (state.KVs{}).Diff(s); len(puts) != 2000 || len(dels) != 0 {
		t.Errorf("diff from nothing: %d puts, %d deletes", len(puts), len(dels))
	}
}

// BenchmarkChurn10k writes, in turn, the States of a 10,000-key configuration that changes
// 100 keys at a time: whole files every time against the Writer's journal (which starts
// again from a whole file when the journal outgrows it). B/op counts memory, disk-bytes/op what
// went to disk.
//
//	go test -run x -bench Churn10k ./config/statefile/
func BenchmarkChurn10k(b *testing.B) {
	first := state10k()
	next := func(st *state.State, i int) *state.State {
		set := make([]state.KV, 100)
		for j := range set {
			n := (i*100 + j) % 10_000
			k := "/apisix/routes/" + itoa(n)
			// The same size as before: the configuration stays as large whatever the benchtime.
			set[j] = state.KV{Key: k, ModRevision: st.Revision + 1,
				Value: []byte(`{"uri":"/api/v1/resource/` + itoa(n) + `/*","methods":["GET","POST"],"upstream_id":"` + itoa(1+i%2) + `","priority":0}`)}
		}
		return &state.State{Revision: st.Revision + 1, KVs: st.KVs.With(set, nil), Updated: time.Now()}
	}
	size := func(dir string) int64 {
		var n int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return n
	}
	b.Run("whole", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), FileName)
		st := first
		var disk int64
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			st = next(st, i)
			if err := Write(path, "/apisix", st); err != nil {
				b.Fatal(err)
			}
			disk += size(filepath.Dir(path))
		}
		b.ReportMetric(float64(disk)/float64(b.N), "disk-bytes/op")
	})
	b.Run("journal", func(b *testing.B) {
		w := NewWriter(filepath.Join(b.TempDir(), FileName), "/apisix", 0, nil)
		defer w.closeJournal()
		w.write(first)
		st := first
		var disk int64
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			st = next(st, i)
			before := w.journal.size
			w.write(st)
			if w.journal.size > before {
				disk += int64(w.journal.size - before)
			} else { // a whole write: the state file and an empty journal
				disk += size(filepath.Dir(w.path))
			}
		}
		b.ReportMetric(float64(disk)/float64(b.N), "disk-bytes/op")
	})
}

// FuzzReplayJournal: no journal makes the reader panic, move the revision back, or change the
// State it replays onto (whose shards other States share); a record it applies moves the
// revision forward.
func FuzzReplayJournal(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, FileName)
	states := journalStates()
	w := NewWriter(path, "/apisix", 0, nil)
	for _, st := range states {
		w.Save(st)
		w.flush()
	}
	w.closeJournal()
	data, err := os.ReadFile(journalPath(path))
	if err != nil {
		f.Fatal(err)
	}
	nl := bytes.IndexByte(data, '\n')
	header, records := data[:nl+1], data[nl+1:]
	fileData, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(records)
	f.Add(records[:len(records)/2])
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, records []byte) {
		base, id, err := parse(fileData, path, "/apisix")
		if err != nil {
			t.Fatal(err)
		}
		before := base.KVs.Map()
		st := *base
		replayJournal(append(append([]byte(nil), header...), records...), "/apisix", id, &st)
		if st.Revision < base.Revision {
			t.Fatalf("revision went back from %d to %d", base.Revision, st.Revision)
		}
		if st.Revision == base.Revision && st.KVs.Len() != base.KVs.Len() {
			t.Fatalf("keys changed (%d -> %d) without a record applied", base.KVs.Len(), st.KVs.Len())
		}
		after := base.KVs.Map()
		if len(after) != len(before) {
			t.Fatalf("the base State changed: %d keys, was %d", len(after), len(before))
		}
		for k, kv := range before {
			if a := after[k]; a.ModRevision != kv.ModRevision || !bytes.Equal(a.Value, kv.Value) {
				t.Fatalf("the base State's %s changed", k)
			}
		}
	})
}
