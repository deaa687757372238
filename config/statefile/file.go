package statefile

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

	"github.com/zoneproxy/zoneproxy/config/state"
)

// fileFormat names the file layout; a file with another format is foreign. The name dates from
// when the state file was called the snapshot file: it stays, so that files written then read.
const fileFormat = "zoneproxy-snapshot/2"

// FileName is the file, in the data directory, that holds the last applied configuration; its
// journal is beside it (config-state.journal).
const FileName = "config-state.bin"

// legacyFileName is FileName's name before zoneproxy called it the state file. Read falls back to
// it, so that an upgraded process starts from the configuration its predecessor saved.
const legacyFileName = "config-snapshot.bin"

// fileHeader is the file's first line, JSON: what the body holds and its checksum. The body
// follows: for every key in order, uvarint key length, key, uvarint mod revision, uvarint value
// length, value. A binary body, not JSON with base64 values, makes a 10,000-route file several
// times cheaper to write and read.
type fileHeader struct {
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

// ErrNoFile is returned by Read when there is no state file.
var ErrNoFile = errors.New("no state file")

// Write writes st (taken under prefix) to path atomically: a temporary file in the same
// directory, written and synced, then renamed over path, and the directory synced. A reader sees
// the old file or the new one, never a mix, whatever happens to the process or the machine.
//
// The body is encoded twice, streamed each time, rather than built in memory: once into the
// checksum that the header carries, then into the file after the header. It is written under
// churn up to once a second, and a body held in memory would be a megabyte of garbage at 10,000
// routes each time.
func Write(path, prefix string, st *state.State) error {
	_, err := writeFile(path, prefix, st)
	return err
}

// fileID identifies one written state file: a journal belongs to the one it names (see
// journalFormat). BodyBytes is the size of its body.
type fileID struct {
	Revision  int64
	SHA256    string
	Written   int64 // Unix nanoseconds
	BodyBytes int
}

func writeFile(path, prefix string, st *state.State) (fileID, error) {
	kvs := st.KVs.Sorted()
	sum := sha256.New()
	bw := bufio.NewWriterSize(sum, bufferSize)
	bodyBytes := writeBody(bw, kvs)
	if err := bw.Flush(); err != nil {
		return fileID{}, fmt.Errorf("state file: checksum: %w", err)
	}
	written := time.Now().UTC()
	id := fileID{Revision: st.Revision, SHA256: hex.EncodeToString(sum.Sum(nil)), Written: written.UnixNano(),
		BodyBytes: bodyBytes}
	head, err := json.Marshal(fileHeader{
		Format: fileFormat, Prefix: prefix, ClusterID: st.ClusterID, Revision: st.Revision,
		Endpoint: st.Endpoint, Written: written, Keys: len(kvs), BodyBytes: bodyBytes, SHA256: id.SHA256,
	})
	if err != nil {
		return fileID{}, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fileID{}, fmt.Errorf("state file: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fileID{}, fmt.Errorf("state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	bw.Reset(tmp)
	_, _ = bw.Write(head)
	_ = bw.WriteByte('\n')
	writeBody(bw, kvs)
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return fileID{}, fmt.Errorf("state file: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fileID{}, fmt.Errorf("state file: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fileID{}, fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fileID{}, fmt.Errorf("state file: %w", err)
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

// yieldEvery is how many records writeBody encodes between two yields (some 50 µs of work).
const yieldEvery = 256

// bufferSize is the write buffer of Write.
const bufferSize = 64 << 10

// writeBody writes the body's records of kvs (in key order) to w and returns their length. A write
// error sticks in w: its Flush reports it.
//
// Every few hundred records it lets other goroutines run: with GOMAXPROCS=1 the proxy has no other
// processor, and the milliseconds a large configuration takes would otherwise hold up every
// request in flight (the p99 under churn, when the file is written every second).
func writeBody(w *bufio.Writer, kvs []*state.KV) int {
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

// Read reads the state file at path (or, when path is named FileName and is missing, the file
// of that directory that an older zoneproxy wrote), with the changes its journal adds (see
// journalFormat). A file that is corrupt (bad header, wrong length or checksum, bad records) or
// foreign (another format or prefix) is an error: it must never be served. A journal that belongs
// to another state file is ignored, and so is the tail of one that a crash cut short.
func Read(path, prefix string) (*state.State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && filepath.Base(path) == FileName {
		path = filepath.Join(filepath.Dir(path), legacyFileName)
		data, err = os.ReadFile(path)
	}
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoFile
	}
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w", path, err)
	}
	st, id, err := parse(data, path, prefix)
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(journalPath(path)); err == nil {
		replayJournal(data, prefix, id, st)
	}
	return st, nil
}

func parse(data []byte, path, prefix string) (*state.State, fileID, error) {
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("state file %s: corrupt: %s", path, fmt.Sprintf(format, args...))
	}
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 {
		return nil, fileID{}, corrupt("no header line")
	}
	var h fileHeader
	if err := json.Unmarshal(data[:nl], &h); err != nil {
		return nil, fileID{}, corrupt("header: %v", err)
	}
	if h.Format != fileFormat {
		return nil, fileID{}, fmt.Errorf("state file %s: foreign file: format %q, want %q",
			path, h.Format, fileFormat)
	}
	if h.Prefix != prefix {
		return nil, fileID{}, fmt.Errorf("state file %s: foreign file: prefix %q, want %q",
			path, h.Prefix, prefix)
	}
	body := data[nl+1:]
	if len(body) != h.BodyBytes {
		return nil, fileID{}, corrupt("%d body bytes, header says %d", len(body), h.BodyBytes)
	}
	if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != h.SHA256 {
		return nil, fileID{}, corrupt("checksum mismatch")
	}
	if h.Revision <= 0 {
		return nil, fileID{}, corrupt("revision %d", h.Revision)
	}
	st := &state.State{Revision: h.Revision, ClusterID: h.ClusterID,
		Source: state.SourceStateFile, Endpoint: h.Endpoint, Updated: h.Written}
	var kvs state.Builder
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
			return nil, fileID{}, corrupt("bad record after key %q", last)
		}
		body = body[w:]
		value, ok := field()
		if !ok || string(key) <= last && last != "" {
			return nil, fileID{}, corrupt("bad record after key %q", last)
		}
		last = string(key)
		kvs.Set(last, state.KV{Key: last, Value: value, ModRevision: int64(rev)})
	}
	if kvs.Len() != h.Keys {
		return nil, fileID{}, corrupt("%d keys, header says %d", kvs.Len(), h.Keys)
	}
	st.KVs = kvs.Freeze()
	id := fileID{Revision: h.Revision, SHA256: h.SHA256, Written: h.Written.UnixNano(), BodyBytes: h.BodyBytes}
	return st, id, nil
}
