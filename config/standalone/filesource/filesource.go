package filesource

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/zoneproxy/zoneproxy/config/standalone"
	"github.com/zoneproxy/zoneproxy/config/state"
)

// Config configures a Source.
type Config struct {
	// Path is the file's path; Format its syntax. A YAML file must end with #END.
	Path   string
	Format standalone.Format
	// Prefix is the key prefix of the States (deployment.etcd.prefix, default /apisix).
	Prefix string
	// LookupEnv resolves ${{VAR}} references (nil: none is set).
	LookupEnv func(string) (string, bool)
	// Interval is how often the file is checked (default 1 s, as APISIX).
	Interval time.Duration
	// NoInotify turns the inotify watch off (polling only).
	NoInotify bool
	// Logger receives a line per reload and per failure (default: discarded).
	Logger *slog.Logger
	// OnReload, when set, is called after each attempt to load a changed file: ok is false when
	// the file was not loaded.
	OnReload func(ok bool)
}

// Sink receives each new configuration.
type Sink func(context.Context, *state.State)

// Status is what /status/control-plane shows of the source.
type Status struct {
	Source string    `json:"source"` // "file"
	Path   string    `json:"path"`
	Format string    `json:"format"`
	Loaded bool      `json:"loaded"` // a version of the file is applied
	Mtime  time.Time `json:"mtime,omitzero"`
	// Digest is the sha256 of the file loaded, hex.
	Digest   string    `json:"digest,omitempty"`
	Revision int64     `json:"revision"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	Objects  int       `json:"objects"`
	Warnings []string  `json:"warnings,omitempty"` // the loaded file's skipped entries (at most 20)
	Reloads  int64     `json:"reloads"`
	Failures int64     `json:"failures"`
	// LastError is why the last changed version was not loaded; cleared by a successful load.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	Inotify     bool      `json:"inotify"`
}

// gcAfter is how much text a decode parses (the whole file, or the entries that changed) above
// which a collection runs between decoding and building.
const gcAfter = 256 << 10

// Source reads a configuration file and hands its versions to a Sink.
type Source struct {
	cfg  Config
	sink Sink
	log  *slog.Logger

	// Owned by the goroutine that checks (Load, then Run).
	seen    fileID // what the file was at the last check, loaded or not
	current *state.State
	loaded  []byte             // the content of the version loaded
	dec     standalone.Decoder // reuses the unchanged entries of the previous version

	mu     sync.Mutex
	status Status
	state  *state.State
}

// fileID is what tells a changed file: its identity, size and mtime.
type fileID struct {
	info  os.FileInfo
	size  int64
	mtime time.Time
}

func (a fileID) same(b fileID) bool {
	return a.info != nil && b.info != nil && os.SameFile(a.info, b.info) && a.size == b.size && a.mtime.Equal(b.mtime)
}

// New returns a Source of cfg handing States to sink; Load or Run start it.
func New(cfg Config, sink Sink) *Source {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "/apisix"
	}
	if cfg.LookupEnv == nil {
		cfg.LookupEnv = func(string) (string, bool) { return "", false }
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Source{cfg: cfg, sink: sink, log: log.With("component", "standalone_file", "file", cfg.Path)}
	s.status = Status{Source: "file", Path: cfg.Path, Format: cfg.Format.String()}
	return s
}

// Load reads the file once and applies it when it changed since the last check. It returns the
// error that kept it from loading, nil when it loaded or had not changed. Load must not run
// while Run does (Run calls it).
func (s *Source) Load(ctx context.Context) error {
	info, err := os.Stat(s.cfg.Path)
	if err != nil {
		s.fail(fileID{}, fmt.Errorf("stat: %w", err))
		return err
	}
	id := fileID{info: info, size: info.Size(), mtime: info.ModTime()}
	if id.same(s.seen) {
		return nil
	}
	start := time.Now()
	data, id, err := read(s.cfg.Path)
	if err != nil {
		s.fail(id, err)
		return err
	}
	if s.current != nil && bytes.Equal(data, s.loaded) {
		s.seen = id
		s.mu.Lock()
		s.status.Mtime, s.status.LastError, s.status.LastErrorAt = id.mtime, "", time.Time{}
		s.mu.Unlock()
		return nil
	}
	readDone := time.Now()
	kvs, changed, warns, err := s.dec.Decode(data, s.cfg.Format, s.cfg.Prefix, s.cfg.LookupEnv, s.cfg.Format == standalone.YAML)
	if err != nil {
		s.fail(id, err)
		return err
	}
	s.seen = id
	decodeDone := time.Now()
	// Parsing leaves garbage several times the text's size (the YAML node tree, the decoded
	// maps): after a big parse (the first load, a whole file parsed again), collecting it now
	// lets the build reuse its pages instead of growing the heap, which keeps the peak resident
	// size near the live set. It costs some 20 ms of CPU at 10,000 routes, more than the rest of
	// a reload of one changed route, which leaves little garbage: then the GC is left to pace.
	if s.dec.ParsedBytes > gcAfter {
		runtime.GC()
	}
	gcDone := time.Now()
	st := standalone.NextStateChanged(s.current, kvs, changed, state.SourceFile, s.cfg.Path, id.mtime)
	stateDone := time.Now()
	s.sink(ctx, st)
	applyDone := time.Now()
	// What the new version is not waiting for comes after it serves: its digest, its warnings.
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	ws := make([]string, 0, min(len(warns), 20))
	for i, w := range warns {
		s.log.Warn("skipped an entry of the configuration file", "entry", w.String())
		if i < 20 {
			ws = append(ws, w.String())
		}
	}
	s.current, s.loaded = st, data
	s.mu.Lock()
	s.state = st
	s.status.Loaded, s.status.Mtime, s.status.Digest = true, id.mtime, digest
	s.status.Revision, s.status.LoadedAt, s.status.Objects, s.status.Warnings = st.Revision, time.Now(), len(kvs), ws
	s.status.Reloads++
	s.status.LastError, s.status.LastErrorAt = "", time.Time{}
	s.mu.Unlock()
	s.log.Info("config file reloaded", "revision", st.Revision, "objects", len(kvs), "skipped", len(warns),
		"digest", digest[:12], "read", ms(readDone.Sub(start)), "decode", ms(decodeDone.Sub(readDone)),
		"gc", ms(gcDone.Sub(decodeDone)), "state", ms(stateDone.Sub(gcDone)), "apply", ms(applyDone.Sub(stateDone)),
		"total", ms(applyDone.Sub(start)),
		"entries_parsed", s.dec.Parsed, "entries_reused", s.dec.Reused)
	if s.cfg.OnReload != nil {
		s.cfg.OnReload(true)
	}
	return nil
}

func ms(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

// fail records a version of the file that was not loaded; it is logged once per version.
func (s *Source) fail(id fileID, err error) {
	if id.info != nil && id.same(s.seen) {
		return
	}
	s.mu.Lock()
	// A file that cannot be opened has no identity: the same error again is the same failure.
	repeated := id.info == nil && s.seen.info == nil && s.status.LastError == err.Error()
	s.mu.Unlock()
	s.seen = id
	if repeated {
		return
	}
	s.mu.Lock()
	s.status.Failures++
	s.status.LastError, s.status.LastErrorAt = err.Error(), time.Now()
	loaded := s.status.Loaded
	s.mu.Unlock()
	s.log.Error("config file not loaded; the last good configuration stays", "error", err, "have_previous", loaded)
	if s.cfg.OnReload != nil {
		s.cfg.OnReload(false)
	}
}

// read reads the whole file through one descriptor, so that the identity checked is the one
// read, even when a symlink or the file is swapped meanwhile; past MaxSize it stops.
func read(path string) ([]byte, fileID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fileID{}, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fileID{}, err
	}
	id := fileID{info: info, size: info.Size(), mtime: info.ModTime()}
	if !info.Mode().IsRegular() {
		return nil, id, fmt.Errorf("%s is not a regular file", path)
	}
	if info.Size() > standalone.MaxSize {
		return nil, id, standalone.ErrTooLarge
	}
	// Sized from the stat, so that the read is one buffer, not ReadAll's doublings (the file
	// may still grow or shrink meanwhile: the limit and EOF decide).
	var buf bytes.Buffer
	buf.Grow(int(info.Size()) + bytes.MinRead)
	if _, err := buf.ReadFrom(io.LimitReader(f, standalone.MaxSize+1)); err != nil {
		return nil, id, err
	}
	data := buf.Bytes()
	if len(data) > standalone.MaxSize {
		return nil, id, standalone.ErrTooLarge
	}
	return data, id, nil
}

// Run checks the file every Interval and on inotify events until ctx is done. The first check is
// immediate.
func (s *Source) Run(ctx context.Context) error {
	var events <-chan struct{}
	if !s.cfg.NoInotify {
		ch, stop, err := watch(s.cfg.Path)
		if err != nil {
			s.log.Info("inotify unavailable; polling only", "error", err, "interval", s.cfg.Interval)
		} else {
			defer stop()
			events = ch
			s.mu.Lock()
			s.status.Inotify = true
			s.mu.Unlock()
		}
	}
	_ = s.Load(ctx)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-events:
		}
		_ = s.Load(ctx)
	}
}

// Status returns a copy of the source's status.
func (s *Source) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Warnings = append([]string(nil), st.Warnings...)
	return st
}

// State returns the last State handed to the sink (nil before the first).
func (s *Source) State() *state.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// ErrNoWatch is returned by watch where inotify is not available.
var ErrNoWatch = errors.New("inotify is not available on this system")
