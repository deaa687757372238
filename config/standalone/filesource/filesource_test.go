package filesource

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/config/standalone"
	"github.com/zoneproxy/zoneproxy/config/state"
	"github.com/zoneproxy/zoneproxy/internal/testutil"
)

// sink collects the States handed out.
type sink struct {
	mu  sync.Mutex
	got []*state.State
}

func (s *sink) apply(_ context.Context, st *state.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, st)
}

func (s *sink) last() *state.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.got) == 0 {
		return nil
	}
	return s.got[len(s.got)-1]
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func routes(uris ...string) string {
	var b strings.Builder
	b.WriteString("routes:\n")
	for i, u := range uris {
		fmt.Fprintf(&b, "  - id: r%d\n    uri: %s\n", i+1, u)
	}
	b.WriteString("#END\n")
	return b.String()
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bump moves the file's mtime on, so that a rewrite within the file system's timestamp
// granularity is still a change (a size change is one anyway).
func bump(t *testing.T, path string) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	next := info.ModTime().Add(time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatal(err)
	}
}

func value(st *state.State, key string) string {
	kv, _ := st.KVs.Get(key)
	return string(kv.Value)
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apisix.yaml")
	var sk sink
	src := New(Config{Path: path, Format: standalone.YAML, NoInotify: true}, sk.apply)
	ctx := context.Background()

	// No file yet: an error, nothing applied, counted once however often it is checked.
	for range 3 {
		if err := src.Load(ctx); err == nil || sk.count() != 0 {
			t.Fatalf("missing file: err %v, %d applied", err, sk.count())
		}
	}
	if s := src.Status(); s.Failures != 1 || s.LastError == "" {
		t.Fatalf("status of a missing file %+v", s)
	}
	write(t, path, routes("/a", "/b"))
	if err := src.Load(ctx); err != nil {
		t.Fatal(err)
	}
	st := sk.last()
	if st.Revision != 1 || st.Changed != nil || st.Source != state.SourceFile || st.KVs.Len() != 2 {
		t.Fatalf("first state: rev %d changed %v source %s len %d", st.Revision, st.Changed, st.Source, st.KVs.Len())
	}
	if s := src.Status(); !s.Loaded || len(s.Digest) != 64 || s.Reloads != 1 || s.LastError != "" {
		t.Fatalf("status %+v", s)
	}

	t.Run("unchanged file is not applied again", func(t *testing.T) {
		n := sk.count()
		_ = src.Load(ctx)
		bump(t, path) // same content, new mtime: the digest matches
		_ = src.Load(ctx)
		if sk.count() != n {
			t.Fatalf("%d applies for an unchanged file", sk.count()-n)
		}
	})
	t.Run("in-place write: only the changed key, its revision moves", func(t *testing.T) {
		write(t, path, routes("/a", "/b2"))
		bump(t, path)
		if err := src.Load(ctx); err != nil {
			t.Fatal(err)
		}
		st := sk.last()
		if st.Revision != 2 || st.Previous != 1 || len(st.Changed) != 1 || st.Changed[0] != "/apisix/routes/r2" {
			t.Fatalf("rev %d prev %d changed %v", st.Revision, st.Previous, st.Changed)
		}
		if kv, _ := st.KVs.Get("/apisix/routes/r1"); kv.ModRevision != 1 {
			t.Errorf("unchanged route's revision %d, want 1", kv.ModRevision)
		}
	})
	t.Run("truncated mid-write is not loaded, then the complete file is", func(t *testing.T) {
		full := routes("/a", "/b3", "/c")
		write(t, path, full[:len(full)/2])
		bump(t, path)
		n := sk.count()
		err := src.Load(ctx)
		if err == nil || !strings.Contains(err.Error(), "#END") || sk.count() != n {
			t.Fatalf("half a file: err %v, applied %d", err, sk.count()-n)
		}
		if s := src.Status(); !strings.Contains(s.LastError, "end flag") || s.Failures == 0 {
			t.Fatalf("status after a failure %+v", s)
		}
		write(t, path, full)
		bump(t, path)
		if err := src.Load(ctx); err != nil {
			t.Fatal(err)
		}
		if st := sk.last(); st.KVs.Len() != 3 || src.Status().LastError != "" {
			t.Fatalf("len %d status %+v", st.KVs.Len(), src.Status())
		}
	})
	t.Run("atomic rename: a key deleted", func(t *testing.T) {
		tmp := filepath.Join(dir, ".apisix.yaml.tmp")
		write(t, tmp, routes("/a"))
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		if err := src.Load(ctx); err != nil {
			t.Fatal(err)
		}
		st := sk.last()
		if st.KVs.Len() != 1 || len(st.Changed) != 2 {
			t.Fatalf("len %d changed %v", st.KVs.Len(), st.Changed)
		}
	})
	t.Run("over 64 MiB", func(t *testing.T) {
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(standalone.MaxSize + 1); err != nil {
			t.Fatal(err)
		}
		f.Close()
		n := sk.count()
		if err := src.Load(ctx); err == nil || !strings.Contains(err.Error(), "larger") || sk.count() != n {
			t.Fatalf("err %v applied %d", err, sk.count()-n)
		}
	})
}

// TestSymlinkSwap: a Kubernetes ConfigMap mount: apisix.yaml -> ..data/apisix.yaml, ..data a
// symlink to a timestamped directory, swapped by a rename. Run sees it through inotify (or the
// poll), with no change to the file's own mtime needed.
func TestSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := filepath.Join(dir, "..2026_v1"), filepath.Join(dir, "..2026_v2")
	for _, d := range []string{v1, v2} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(v1, "apisix.yaml"), routes("/v1"))
	write(t, filepath.Join(v2, "apisix.yaml"), routes("/v2"))
	// Same mtime for both: only the identity differs.
	mt := time.Now().Add(-time.Hour)
	for _, d := range []string{v1, v2} {
		if err := os.Chtimes(filepath.Join(d, "apisix.yaml"), mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("..2026_v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "apisix.yaml")
	if err := os.Symlink(filepath.Join("..data", "apisix.yaml"), path); err != nil {
		t.Fatal(err)
	}
	var sk sink
	src := New(Config{Path: path, Format: standalone.YAML, Interval: 50 * time.Millisecond}, sk.apply)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testutil.WaitFor(t, "v1 loaded", 5*time.Second, func() bool {
		st := sk.last()
		return st != nil && strings.Contains(value(st, "/apisix/routes/r1"), "/v1")
	})
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink("..2026_v2", tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "v2 loaded", 5*time.Second, func() bool {
		return strings.Contains(value(sk.last(), "/apisix/routes/r1"), "/v2")
	})
}

// TestInotify: with a poll interval of an hour, a rename is still picked up at once.
func TestInotify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apisix.json")
	write(t, path, `{"routes":[{"id":"a","uri":"/one"}]}`)
	var sk sink
	src := New(Config{Path: path, Format: standalone.JSON, Interval: time.Hour}, sk.apply)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testutil.WaitFor(t, "first load", 5*time.Second, func() bool { return sk.count() == 1 })
	if !src.Status().Inotify {
		t.Skip("no inotify here")
	}
	tmp := filepath.Join(dir, "next")
	write(t, tmp, `{"routes":[{"id":"a","uri":"/two"}]}`)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, "the renamed file", 5*time.Second, func() bool {
		return strings.Contains(value(sk.last(), "/apisix/routes/a"), "/two")
	})
}

// TestLoadFollowsChanges: versions of a file, each renamed into place, some parsed entry by
// entry, some whole, some not loadable: each State applied holds exactly what Decode makes of
// its version, its Changed lists the keys that differ from the State before, and the keys that
// did not change keep their mod revisions.
func TestLoadFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "apisix.yaml")
	uris := make([]string, 200)
	for i := range uris {
		uris[i] = fmt.Sprintf("/r%d", i)
	}
	// The routes' ids are r<position>: a route added or removed changes the later ones.
	edits := []func([]string) []string{
		func(u []string) []string { u[7] = "/seven"; return u },
		func(u []string) []string { return append(u[:50:50], u[51:]...) },
		func(u []string) []string { return append([]string{"/first"}, u...) },
		func(u []string) []string { u[3], u[100] = u[100], u[3]; return u },
		func(u []string) []string { u[0] = "/anchor\n    upstream: &u {nodes: {\"a:1\": 1}}"; return u }, // parsed whole
		func(u []string) []string { u[0] = "/first"; return u },
		nil, // a half-written version, not loaded
		func(u []string) []string { u[199] = "/last"; return u },
	}
	var sk sink
	src := New(Config{Path: path, Format: standalone.YAML, NoInotify: true}, sk.apply)
	ctx := context.Background()
	put := func(content string) {
		tmp := path + ".tmp"
		write(t, tmp, content)
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	put(routes(uris...))
	if err := src.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for i, edit := range edits {
		prev := sk.last()
		if edit == nil {
			put(routes(uris...)[:100])
			if err := src.Load(ctx); err == nil || sk.last() != prev {
				t.Fatalf("edit %d: a half-written file: %v", i, err)
			}
			continue
		}
		uris = edit(slices.Clone(uris))
		content := routes(uris...)
		put(content)
		if err := src.Load(ctx); err != nil {
			t.Fatalf("edit %d: %v", i, err)
		}
		st := sk.last()
		want, _, err := standalone.Decode([]byte(content), standalone.YAML, "/apisix", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		var changed []string
		for k, v := range want {
			kv, ok := st.KVs.Get(k)
			if !ok || string(kv.Value) != string(v) {
				t.Fatalf("edit %d: %s = %q, Decode's %q", i, k, kv.Value, v)
			}
			old, had := prev.KVs.Get(k)
			switch {
			case !had || string(old.Value) != string(v):
				changed = append(changed, k)
			case kv.ModRevision != old.ModRevision:
				t.Errorf("edit %d: unchanged %s's revision moved from %d to %d", i, k, old.ModRevision, kv.ModRevision)
			}
		}
		for k := range prev.KVs.All() {
			if _, ok := want[k]; !ok {
				changed = append(changed, k)
			}
		}
		slices.Sort(changed)
		if st.KVs.Len() != len(want) || !slices.Equal(st.Changed, changed) || st.Previous != prev.Revision {
			t.Fatalf("edit %d: %d keys (Decode's %d), changed %q, want %q", i, st.KVs.Len(), len(want), st.Changed, changed)
		}
	}
}
