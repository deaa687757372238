package accesslog

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Run and Reopen after Close.
var ErrClosed = errors.New("accesslog: closed")

// Options configure a Logger. Zero values take the documented defaults.
type Options struct {
	// Format is FormatCombined (the default) or FormatJSON.
	Format string
	// Fields are the JSON fields, in order (default DefaultFields()); only with FormatJSON.
	Fields []string
	// Output is "stdout" (the default), "stderr" or the path of a file, opened for appending and
	// created with mode 0644 when missing.
	Output string
	// Writer, when set, is written to instead of Output; it is never closed or reopened.
	Writer io.Writer
	// BufferLines is how many lines may wait for the writer (default 4096, rounded up to a power
	// of two); more are dropped.
	BufferLines int
	// LineSize is the initial capacity of each line buffer (default 1024 bytes). A longer line
	// grows its buffer once; buffers that grew past 64 KiB are replaced after use.
	LineSize int
	// FlushInterval is how often the writer wakes up to write queued lines (default 100 ms); it
	// also wakes up whenever an eighth of the buffers are queued. Short of that, Log does not wake
	// it, which would cost every request a goroutine switch.
	FlushInterval time.Duration
	// Location is the time zone of the time field (default time.Local).
	Location *time.Location
	// Logger receives write and reopen errors (default: discarded).
	Logger *slog.Logger
}

// maxKeep is the largest line buffer kept for reuse.
const maxKeep = 64 << 10

// Logger writes access log lines. See the package documentation.
type Logger struct {
	json   bool
	fields []field
	keys   []string
	loc    *time.Location
	log    *slog.Logger
	size   int

	ring     *ring
	kick     chan struct{} // wakes the writer when kickAt lines are queued
	kickAt   uint64
	interval time.Duration
	closed   atomic.Bool
	dropped  atomic.Uint64
	written  atomic.Uint64

	mu      sync.Mutex // guards the output
	path    string     // "" when the output cannot be reopened
	file    *os.File   // nil for stdout, stderr and Options.Writer
	out     io.Writer  // what bw writes to
	bw      *bufio.Writer
	pending uint64 // lines in bw since the last flush
	failing bool   // the last write failed (logged once)

	life    sync.Mutex // guards running and stopped
	running bool
	stopped bool
	stop    chan struct{}
	exited  chan struct{}
	once    sync.Once
	err     error // from closing the file
}

// New returns a Logger with its output open. Lines are written once Run is running.
func New(opts Options) (*Logger, error) {
	l := &Logger{loc: opts.Location, log: opts.Logger, size: opts.LineSize, interval: opts.FlushInterval,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
	if l.interval <= 0 {
		l.interval = 100 * time.Millisecond
	}
	if l.loc == nil {
		l.loc = time.Local
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.log = l.log.With("component", "accesslog")
	if l.size <= 0 {
		l.size = 1024
	}
	switch opts.Format {
	case "", FormatCombined:
		if len(opts.Fields) > 0 {
			return nil, fmt.Errorf("accesslog: fields: only the %s format has fields; %s is nginx's fixed format",
				FormatJSON, FormatCombined)
		}
	case FormatJSON:
		if err := l.setFields(opts.Fields); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("accesslog: format %q: not %s or %s", opts.Format, FormatCombined, FormatJSON)
	}
	n := opts.BufferLines
	if n < 0 {
		return nil, fmt.Errorf("accesslog: buffer_lines %d: negative", n)
	}
	if n == 0 {
		n = 4096
	}
	l.ring = newRing(n, l.size)
	l.kickAt = max(uint64(len(l.ring.slots)/8), 1)

	var out io.Writer
	switch {
	case opts.Writer != nil:
		out = opts.Writer
	case opts.Output == "" || opts.Output == "stdout":
		out = os.Stdout
	case opts.Output == "stderr":
		out = os.Stderr
	default:
		f, err := openFile(opts.Output)
		if err != nil {
			return nil, fmt.Errorf("accesslog: output %q: %w", opts.Output, err)
		}
		l.path, l.file, out = opts.Output, f, f
	}
	l.out, l.bw = out, bufio.NewWriterSize(out, 64<<10)
	return l, nil
}

func (l *Logger) setFields(names []string) error {
	if len(names) == 0 {
		names = DefaultFields()
	}
	seen := make(map[string]bool, len(names))
	for i, name := range names {
		f, ok := fieldByName(name)
		if !ok {
			return fmt.Errorf("accesslog: fields[%d] %q: unknown field", i, name)
		}
		if seen[name] {
			return fmt.Errorf("accesslog: fields[%d] %q: listed twice", i, name)
		}
		seen[name] = true
		key := `"` + name + `":`
		if i > 0 {
			key = "," + key
		}
		l.fields, l.keys = append(l.fields, f), append(l.keys, key)
	}
	l.json = true
	return nil
}

func openFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// Log formats r and queues the line. It never blocks: when no slot is free the line is dropped
// and counted (when it wakes the writer, it yields to it once). It keeps nothing of r.
func (l *Logger) Log(r *Record) {
	if l == nil {
		return
	}
	if l.closed.Load() {
		l.dropped.Add(1)
		return
	}
	s, pos, ok := l.ring.claim()
	if !ok {
		l.dropped.Add(1)
		return
	}
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	t = t.In(l.loc)
	if l.json {
		s.buf = appendJSON(s.buf[:0], r, t, l.fields, l.keys)
	} else {
		s.buf = appendCombined(s.buf[:0], r, t)
	}
	s.publish(pos)
	if l.ring.queued() >= l.kickAt {
		select {
		case l.kick <- struct{}{}:
			// The writer was parked: let it run now rather than after the time slices of every
			// busy request goroutine, or the ring fills up under load. Once per kickAt lines.
			runtime.Gosched()
		default:
		}
	}
}

// Dropped is the number of lines lost: not queued because every buffer was in use, logged after
// Close, or lost to a write error.
func (l *Logger) Dropped() uint64 {
	if l == nil {
		return 0
	}
	return l.dropped.Load()
}

// Written is the number of lines written to the output (flushed).
func (l *Logger) Written() uint64 {
	if l == nil {
		return 0
	}
	return l.written.Load()
}

// Run writes queued lines until ctx is done (then it writes up to a queue's worth more and
// returns nil) or Close is called (which writes the rest). It returns an error at once when
// called a second time or after Close.
func (l *Logger) Run(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.life.Lock()
	switch {
	case l.stopped:
		l.life.Unlock()
		return ErrClosed
	case l.running:
		l.life.Unlock()
		return errors.New("accesslog: Run called twice")
	}
	l.running = true
	l.life.Unlock()
	defer close(l.exited)
	tick := time.NewTicker(l.interval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			l.batch()
		case <-l.kick:
			l.batch() // if more is queued, Log kicks again
		case <-ctx.Done():
			l.batch()
			return nil
		case <-l.stop:
			return nil // Close drains
		}
	}
}

// drain writes what is queued, flushing after each ring's worth so that Reopen is not held off
// for long. Only Close calls it, once Log adds nothing more; it waits a little for lines that
// are still being formatted.
func (l *Logger) drain() {
	for spins := 0; spins < 1000; {
		if l.batch() {
			continue
		}
		if l.ring.queued() == 0 {
			return
		}
		spins++
		runtime.Gosched() // a Log is formatting the next line
	}
}

// batch writes up to a ring's worth of published lines, in order, and flushes; it reports whether
// it stopped for lack of room rather than of lines.
func (l *Logger) batch() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for range l.ring.slots {
		s, ok := l.ring.peek()
		if !ok {
			l.flush()
			return false
		}
		l.writeLine(s)
	}
	l.flush()
	return true
}

// writeLine buffers one line and frees its slot. l.mu is held.
func (l *Logger) writeLine(s *slot) {
	if _, err := l.bw.Write(s.buf); err != nil {
		l.failed(err, 1)
	} else {
		l.pending++
	}
	if cap(s.buf) > maxKeep {
		s.buf = make([]byte, 0, l.size)
	}
	l.ring.release(s)
}

// flush writes out the buffered lines. l.mu is held.
func (l *Logger) flush() {
	if err := l.bw.Flush(); err != nil {
		l.failed(err, 0)
		return
	}
	l.written.Add(l.pending)
	l.pending = 0
	if l.failing {
		l.failing = false
		l.log.Info("access log writable again")
	}
}

// failed counts the buffered lines (and extra more) as dropped and resets the writer, whose
// errors are sticky. l.mu is held.
func (l *Logger) failed(err error, extra uint64) {
	l.dropped.Add(l.pending + extra)
	l.pending = 0
	l.bw.Reset(l.out)
	if !l.failing {
		l.failing = true
		l.log.Error("writing the access log", "output", l.path, "error", err)
	}
}

// Reopen flushes the log and reopens its file under the same path, so that a file renamed by
// logrotate is left alone and a new one is created. It does nothing for stdout, stderr or a
// Writer. On error the old file stays in use.
func (l *Logger) Reopen() error {
	if l == nil || l.path == "" {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return ErrClosed
	}
	l.flush()
	f, err := openFile(l.path)
	if err != nil {
		l.log.Error("reopening the access log", "output", l.path, "error", err)
		return fmt.Errorf("accesslog: reopening output %q: %w", l.path, err)
	}
	old := l.file
	l.file, l.out = f, f
	l.bw.Reset(f)
	if err := old.Close(); err != nil {
		l.log.Warn("closing the rotated access log", "output", l.path, "error", err)
	}
	l.log.Info("access log reopened", "output", l.path)
	return nil
}

// Close stops Run (waiting for it to write what is queued), flushes and closes the file. Lines
// logged afterwards are dropped. It is safe to call more than once.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.once.Do(func() {
		l.closed.Store(true)
		l.life.Lock()
		l.stopped = true
		running := l.running
		l.life.Unlock()
		close(l.stop)
		if running {
			<-l.exited
		}
		l.drain()
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.file != nil {
			l.err = l.file.Close()
			l.file, l.out = nil, io.Discard
			l.bw.Reset(io.Discard)
		}
	})
	return l.err
}
