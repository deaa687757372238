package statefile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/zoneproxy/zoneproxy/config/state"
)

// The state journal holds what changed since the state file was written.
//
// A state file costs in proportion to the configuration: at 10,000 routes two megabytes to
// encode, checksum, write and sync. Written whole every second under churn, on a single processor
// it held up every request in flight (the p99 under churn). The Writer instead appends to
// the journal the change from the last State it wrote to the next, which costs in proportion to
// the change. When the journal has grown larger than the state file's body, the next write is a
// new state file and an empty journal: the disk holds at most about twice the configuration, and
// a read replays at most a configuration's worth of changes.
//
// The journal's file sits beside the state file (config-state.journal). Its first line is a
// JSON journalHeader naming the one state file it continues, by revision, checksum and time of
// writing; a journal whose state file has since been replaced is ignored. Records follow, each:
//
//	uvarint payload length, payload, CRC-32C of the payload (4 bytes, big-endian)
//
// and the payload: uvarint revision, uvarint time of writing (Unix nanoseconds; the State read back
// has it as its Updated time, as the state file's), uvarint count of KVs
// put, each as in the state file's body (key, mod revision, value), uvarint count of keys
// deleted, each as uvarint length and key. Each record is whole: applied in order, the records give
// each State the writer wrote. A reader stops at the first record that is cut short, fails its
// checksum or does not move the revision forward: the tail of an append that a crash interrupted.
// A writer never appends after such a tail; it starts from a new state file.
const journalFormat = "zoneproxy-journal/1"

// journalHeader is the journal's first line.
type journalHeader struct {
	Format       string `json:"format"`
	Prefix       string `json:"prefix"`
	BaseRevision int64  `json:"base_revision"`
	BaseSHA256   string `json:"base_sha256"`
	BaseWritten  int64  `json:"base_written_unix_nano"`
}

// minJournalBytes is the least a journal may grow to before the writer starts from a new state
// file, for small configurations.
const minJournalBytes = 64 << 10

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// journalPath is the journal's file for the state file at path.
func journalPath(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path)) + ".journal"
}

// journal is an open journal that the Writer appends to.
type journal struct {
	f     *os.File
	limit int // records' bytes beyond which the writer starts from a new state file
	size  int // records' bytes so far
	buf   []byte
}

// createJournal starts the empty journal of the state file base, replacing any journal there
// was: written and synced under a temporary name, then renamed.
func createJournal(snapPath, prefix string, base fileID) (*journal, error) {
	head, err := json.Marshal(journalHeader{Format: journalFormat, Prefix: prefix, BaseRevision: base.Revision,
		BaseSHA256: base.SHA256, BaseWritten: base.Written})
	if err != nil {
		return nil, err
	}
	path := journalPath(snapPath)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("state journal: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(append(head, '\n')); err != nil {
		return nil, fmt.Errorf("state journal: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("state journal: sync: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("state journal: %w", err)
	}
	syncDir(dir)
	ok = true
	return &journal{f: tmp, limit: max(base.BodyBytes, minJournalBytes)}, nil
}

// full reports whether the journal has grown past its limit.
func (j *journal) full() bool { return j.size >= j.limit }

// append writes and syncs the record that takes the journal from its last State to st: puts and
// dels are what changed. After an error the journal may end in part of a record: it must not be
// appended to again.
func (j *journal) append(st *state.State, puts []*state.KV, dels []string) error {
	const room = binary.MaxVarintLen64 // before the payload, for its length
	p := append(j.buf[:0], make([]byte, room)...)
	p = binary.AppendUvarint(p, uint64(st.Revision))
	p = binary.AppendUvarint(p, uint64(time.Now().UnixNano())) // as the state file's "written"
	p = binary.AppendUvarint(p, uint64(len(puts)))
	for _, kv := range puts {
		p = binary.AppendUvarint(p, uint64(len(kv.Key)))
		p = append(p, kv.Key...)
		p = binary.AppendUvarint(p, uint64(kv.ModRevision))
		p = binary.AppendUvarint(p, uint64(len(kv.Value)))
		p = append(p, kv.Value...)
	}
	p = binary.AppendUvarint(p, uint64(len(dels)))
	for _, k := range dels {
		p = binary.AppendUvarint(p, uint64(len(k)))
		p = append(p, k...)
	}
	payload := p[room:]
	var length [room]byte
	l := binary.PutUvarint(length[:], uint64(len(payload)))
	start := room - l
	copy(p[start:], length[:l])
	p = binary.BigEndian.AppendUint32(p, crc32.Checksum(payload, crc32c))
	j.buf = p
	if _, err := j.f.Write(p[start:]); err != nil {
		return fmt.Errorf("state journal: write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("state journal: sync: %w", err)
	}
	j.size += len(p) - start
	return nil
}

func (j *journal) close() { _ = j.f.Close() }

// replayJournal applies to st, read from the state file base, the records of the journal data
// that continue it (see journalFormat).
func replayJournal(data []byte, prefix string, base fileID, st *state.State) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return
	}
	var h journalHeader
	if json.Unmarshal(data[:nl], &h) != nil || h.Format != journalFormat || h.Prefix != prefix ||
		h.BaseRevision != base.Revision || h.BaseSHA256 != base.SHA256 || h.BaseWritten != base.Written {
		return
	}
	data = data[nl+1:]
	kvs := state.BuilderOf(st.KVs)
	applied := false
	for len(data) > 0 {
		n, w := binary.Uvarint(data)
		if w <= 0 || n > uint64(len(data)-w) || len(data)-w-int(n) < 4 {
			break
		}
		payload := data[w : w+int(n)]
		if binary.BigEndian.Uint32(data[w+int(n):]) != crc32.Checksum(payload, crc32c) {
			break
		}
		rev, updated, ok := applyRecord(payload, st.Revision, &kvs)
		if !ok {
			break
		}
		st.Revision, applied = rev, true
		if !updated.IsZero() {
			st.Updated = updated
		}
		data = data[w+int(n)+4:]
	}
	if applied {
		st.KVs = kvs.Freeze()
	}
}

// applyRecord applies one record's payload to kvs. It reports false, having changed nothing, when
// the payload does not parse or does not move the revision past after.
func applyRecord(p []byte, after int64, kvs *state.Builder) (rev int64, updated time.Time, ok bool) {
	num := func() (uint64, bool) {
		v, w := binary.Uvarint(p)
		if w <= 0 {
			return 0, false
		}
		p = p[w:]
		return v, true
	}
	field := func() ([]byte, bool) {
		n, ok := num()
		if !ok || n > uint64(len(p)) {
			return nil, false
		}
		f := p[:n]
		p = p[n:]
		return f, true
	}
	r, ok1 := num()
	u, ok2 := num()
	nPuts, ok3 := num()
	if !ok1 || !ok2 || !ok3 || int64(r) <= after || nPuts > uint64(len(p)) {
		return 0, time.Time{}, false
	}
	puts := make([]state.KV, 0, nPuts)
	for range nPuts {
		key, ok := field()
		mod, okMod := num()
		value, okValue := field()
		if !ok || !okMod || !okValue {
			return 0, time.Time{}, false
		}
		puts = append(puts, state.KV{Key: string(key), ModRevision: int64(mod), Value: value})
	}
	nDels, ok := num()
	if !ok || nDels > uint64(len(p)) {
		return 0, time.Time{}, false
	}
	dels := make([]string, 0, nDels)
	for range nDels {
		key, ok := field()
		if !ok {
			return 0, time.Time{}, false
		}
		dels = append(dels, string(key))
	}
	if len(p) != 0 {
		return 0, time.Time{}, false
	}
	for _, kv := range puts {
		kvs.Set(kv.Key, kv)
	}
	for _, k := range dels {
		kvs.Delete(k)
	}
	if u != 0 {
		updated = time.Unix(0, int64(u)).UTC()
	}
	return int64(r), updated, true
}
