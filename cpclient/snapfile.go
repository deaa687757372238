package cpclient

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// snapshotFormat names the file layout; a file with another format is foreign.
const snapshotFormat = "zoneproxy-snapshot/1"

// SnapshotFileName is the file, in the data directory, that holds the last applied configuration.
const SnapshotFileName = "config-snapshot.json"

type snapshotFile struct {
	Format    string          `json:"format"`
	Prefix    string          `json:"prefix"`
	ClusterID uint64          `json:"cluster_id"`
	Revision  int64           `json:"revision"`
	Endpoint  string          `json:"endpoint,omitempty"`
	Written   time.Time       `json:"written"`
	Keys      int             `json:"keys"`
	SHA256    string          `json:"sha256"`
	KVs       json.RawMessage `json:"kvs"`
}

type snapshotKV struct {
	Key         string `json:"key"`
	Value       []byte `json:"value"`
	ModRevision int64  `json:"mod_revision"`
}

// ErrNoSnapshot is returned by ReadSnapshot when there is no snapshot file.
var ErrNoSnapshot = errors.New("no snapshot file")

// WriteSnapshot writes st (taken under prefix) to path atomically: a temporary file in the same
// directory, written and synced, then renamed over path, and the directory synced. A reader sees
// the old file or the new one, never a mix, whatever happens to the process or the machine.
func WriteSnapshot(path, prefix string, st *State) error {
	keys := st.Keys()
	kvs := make([]snapshotKV, 0, len(keys))
	for _, k := range keys {
		kv := st.KVs[k]
		kvs = append(kvs, snapshotKV{Key: kv.Key, Value: kv.Value, ModRevision: kv.ModRevision})
	}
	raw, err := json.Marshal(kvs)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	data, err := json.Marshal(snapshotFile{
		Format: snapshotFormat, Prefix: prefix, ClusterID: st.ClusterID, Revision: st.Revision,
		Endpoint: st.Endpoint, Written: time.Now().UTC(), Keys: len(kvs),
		SHA256: hex.EncodeToString(sum[:]), KVs: raw,
	})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("snapshot: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// ReadSnapshot reads the snapshot file at path. A file that is corrupt (bad JSON, wrong checksum)
// or foreign (another format or prefix) is an error: it must never be served.
func ReadSnapshot(path, prefix string) (*State, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, ErrNoSnapshot
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	var f snapshotFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("snapshot %s: corrupt: %w", path, err)
	}
	if f.Format != snapshotFormat {
		return nil, fmt.Errorf("snapshot %s: foreign file: format %q, want %q", path, f.Format, snapshotFormat)
	}
	if f.Prefix != prefix {
		return nil, fmt.Errorf("snapshot %s: foreign file: prefix %q, want %q", path, f.Prefix, prefix)
	}
	sum := sha256.Sum256(f.KVs)
	if hex.EncodeToString(sum[:]) != f.SHA256 {
		return nil, fmt.Errorf("snapshot %s: corrupt: checksum mismatch", path)
	}
	var kvs []snapshotKV
	if err := json.Unmarshal(f.KVs, &kvs); err != nil {
		return nil, fmt.Errorf("snapshot %s: corrupt: %w", path, err)
	}
	if len(kvs) != f.Keys || f.Revision <= 0 {
		return nil, fmt.Errorf("snapshot %s: corrupt: %d keys at revision %d, header says %d", path, len(kvs), f.Revision, f.Keys)
	}
	st := &State{
		Revision: f.Revision, ClusterID: f.ClusterID, KVs: make(map[string]KV, len(kvs)),
		Source: SourceSnapshot, Endpoint: f.Endpoint, Updated: f.Written,
	}
	for _, kv := range kvs {
		st.KVs[kv.Key] = KV(kv)
	}
	if !sort.SliceIsSorted(kvs, func(i, j int) bool { return kvs[i].Key < kvs[j].Key }) {
		return nil, fmt.Errorf("snapshot %s: corrupt: keys out of order", path)
	}
	return st, nil
}
