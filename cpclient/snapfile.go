package cpclient

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// snapshotFormat names the file layout; a file with another format is foreign.
const snapshotFormat = "zoneproxy-snapshot/2"

// SnapshotFileName is the file, in the data directory, that holds the last applied configuration.
const SnapshotFileName = "config-snapshot.bin"

// snapshotHeader is the file's first line, JSON: what the body holds and its checksum. The body
// follows: for every key in order, uvarint key length, key, uvarint mod revision, uvarint value
// length, value. A binary body, not JSON with base64 values, makes a 10,000-route file several
// times cheaper to write and read.
type snapshotHeader struct {
	Format    string    `json:"format"`
	Prefix    string    `json:"prefix"`
	ClusterID uint64    `json:"cluster_id"`
	Revision  int64     `json:"revision"`
	Endpoint  string    `json:"endpoint,omitempty"`
	Written   time.Time `json:"written"`
	Keys      int       `json:"keys"`
	BodyBytes int       `json:"body_bytes"`
	SHA256    string    `json:"sha256"`
}

// ErrNoSnapshot is returned by ReadSnapshot when there is no snapshot file.
var ErrNoSnapshot = errors.New("no snapshot file")

// WriteSnapshot writes st (taken under prefix) to path atomically: a temporary file in the same
// directory, written and synced, then renamed over path, and the directory synced. A reader sees
// the old file or the new one, never a mix, whatever happens to the process or the machine.
//
// The body is encoded twice, streamed each time, rather than built in memory: once into the
// checksum that the header carries, then into the file after the header. It is written under
// churn up to once a second, and a body held in memory would be a megabyte of garbage at 10,000
// routes each time.
func WriteSnapshot(path, prefix string, st *State) error {
	_, err := writeSnapshot(path, prefix, st)
	return err
}

// snapshotID identifies one written snapshot file: a journal belongs to the one it names (see
// journalFormat). BodyBytes is the size of its body.
type snapshotID struct {
	Revision  int64
	SHA256    string
	Written   int64 // Unix nanoseconds
	BodyBytes int
}

func writeSnapshot(path, prefix string, st *State) (snapshotID, error) {
	kvs := st.KVs.sorted()
	sum := sha256.New()
	bw := bufio.NewWriterSize(sum, snapshotBufferSize)
	bodyBytes := writeBody(bw, kvs)
	if err := bw.Flush(); err != nil {
		return snapshotID{}, fmt.Errorf("snapshot: checksum: %w", err)
	}
	written := time.Now().UTC()
	id := snapshotID{Revision: st.Revision, SHA256: hex.EncodeToString(sum.Sum(nil)), Written: written.UnixNano(),
		BodyBytes: bodyBytes}
	head, err := json.Marshal(snapshotHeader{
		Format: snapshotFormat, Prefix: prefix, ClusterID: st.ClusterID, Revision: st.Revision,
		Endpoint: st.Endpoint, Written: written, Keys: len(kvs), BodyBytes: bodyBytes, SHA256: id.SHA256,
	})
	if err != nil {
		return snapshotID{}, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return snapshotID{}, fmt.Errorf("snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return snapshotID{}, fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	bw.Reset(tmp)
	_, _ = bw.Write(head)
	_ = bw.WriteByte('\n')
	writeBody(bw, kvs)
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return snapshotID{}, fmt.Errorf("snapshot: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return snapshotID{}, fmt.Errorf("snapshot: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return snapshotID{}, fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return snapshotID{}, fmt.Errorf("snapshot: %w", err)
	}
	syncDir(dir)
	return id, nil
}

// syncDir makes a rename in dir durable, as far as the file system allows.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// snapshotBufferSize is the write buffer of WriteSnapshot.
const snapshotBufferSize = 64 << 10

// writeBody writes the body's records of kvs (in key order) to w and returns their length. A write
// error sticks in w: its Flush reports it.
//
// Every few hundred records it lets other goroutines run: with GOMAXPROCS=1 the proxy has no other
// processor, and the milliseconds a large configuration takes would otherwise hold up every
// request in flight (the p99 under churn, when the file is written every second).
func writeBody(w *bufio.Writer, kvs []*KV) int {
	n := 0
	var varint [binary.MaxVarintLen64]byte
	uvarint := func(v uint64) {
		l := binary.PutUvarint(varint[:], v)
		_, _ = w.Write(varint[:l])
		n += l
	}
	for i, kv := range kvs {
		if i%yieldEvery == yieldEvery-1 {
			runtime.Gosched()
		}
		uvarint(uint64(len(kv.Key)))
		_, _ = w.WriteString(kv.Key)
		uvarint(uint64(kv.ModRevision))
		uvarint(uint64(len(kv.Value)))
		_, _ = w.Write(kv.Value)
		n += len(kv.Key) + len(kv.Value)
	}
	return n
}

// ReadSnapshot reads the snapshot file at path, with the changes its journal adds (see
// journalFormat). A file that is corrupt (bad header, wrong length or checksum, bad records) or
// foreign (another format or prefix) is an error: it must never be served. A journal that belongs
// to another snapshot file is ignored, and so is the tail of one that a crash cut short.
func ReadSnapshot(path, prefix string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	st, id, err := parseSnapshot(data, path, prefix)
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(journalPath(path)); err == nil {
		replayJournal(data, prefix, id, st)
	}
	return st, nil
}

func parseSnapshot(data []byte, path, prefix string) (*State, snapshotID, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("snapshot %s: corrupt: %s", path, fmt.Sprintf(format, args...))
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return nil, snapshotID{}, corrupt("no header line")
	}
	var h snapshotHeader
	if err := json.Unmarshal(data[:nl], &h); err != nil {
		return nil, snapshotID{}, corrupt("header: %v", err)
	}
	if h.Format != snapshotFormat {
		return nil, snapshotID{}, fmt.Errorf("snapshot %s: foreign file: format %q, want %q",
			path, h.Format, snapshotFormat)
	}
	if h.Prefix != prefix {
		return nil, snapshotID{}, fmt.Errorf("snapshot %s: foreign file: prefix %q, want %q",
			path, h.Prefix, prefix)
	}
	body := data[nl+1:]
	if len(body) != h.BodyBytes {
		return nil, snapshotID{}, corrupt("%d body bytes, header says %d", len(body), h.BodyBytes)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, snapshotID{}, corrupt("checksum mismatch")
	}
	if h.Revision <= 0 {
		return nil, snapshotID{}, corrupt("revision %d", h.Revision)
	}
	st := &State{Revision: h.Revision, ClusterID: h.ClusterID,
		Source: SourceSnapshot, Endpoint: h.Endpoint, Updated: h.Written}
	var kvs kvBuilder
	field := func() ([]byte, bool) {
		n, w := binary.Uvarint(body)
		if w <= 0 || uint64(len(body)-w) < n {
			return nil, false
		}
		f := body[w : w+int(n)]
		body = body[w+int(n):]
		return f, true
	}
	last := ""
	for len(body) > 0 {
		key, ok := field()
		rev, w := binary.Uvarint(body)
		if !ok || w <= 0 {
			return nil, snapshotID{}, corrupt("bad record after key %q", last)
		}
		body = body[w:]
		value, ok := field()
		if !ok || string(key) <= last && last != "" {
			return nil, snapshotID{}, corrupt("bad record after key %q", last)
		}
		last = string(key)
		kvs.set(last, KV{Key: last, Value: value, ModRevision: int64(rev)})
	}
	if kvs.len() != h.Keys {
		return nil, snapshotID{}, corrupt("%d keys, header says %d", kvs.len(), h.Keys)
	}
	st.KVs = kvs.freeze()
	id := snapshotID{Revision: h.Revision, SHA256: h.SHA256, Written: h.Written.UnixNano(), BodyBytes: h.BodyBytes}
	return st, id, nil
}
