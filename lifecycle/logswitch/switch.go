package logswitch

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
)

// Switch lets a configuration reload change the log level and format of every logger already
// handed out: the level through a LevelVar, the format by swapping the base handler.
type Switch struct {
	w     io.Writer
	level slog.LevelVar
	base  atomic.Pointer[baseHandler]
}

type baseHandler struct{ h slog.Handler }

// New returns a Switch writing to w in format ("text" or "json") at level.
func New(w io.Writer, format string, level slog.Level) *Switch {
	s := &Switch{w: w}
	s.Set(format, level)
	return s
}

// Set applies a format ("text" or "json") and a level to every logger of s.
func (s *Switch) Set(format string, level slog.Level) {
	s.level.Set(level)
	opts := &slog.HandlerOptions{Level: &s.level}
	var h slog.Handler = slog.NewTextHandler(s.w, opts)
	if format == "json" {
		h = slog.NewJSONHandler(s.w, opts)
	}
	if cur := s.base.Load(); cur == nil || !sameFormat(cur.h, h) {
		s.base.Store(&baseHandler{h})
	}
}

func sameFormat(a, b slog.Handler) bool {
	_, aj := a.(*slog.JSONHandler)
	_, bj := b.(*slog.JSONHandler)
	return aj == bj
}

// Logger returns a logger that follows s.
func (s *Switch) Logger() *slog.Logger { return slog.New(&switchHandler{s: s}) }

// switchHandler applies its attributes and groups to whatever base handler is current, caching the
// derived handler until the base changes.
type switchHandler struct {
	s     *Switch
	ops   []func(slog.Handler) slog.Handler
	cache atomic.Pointer[derived]
}

type derived struct {
	base *baseHandler
	h    slog.Handler
}

func (h *switchHandler) current() slog.Handler {
	base := h.s.base.Load()
	if d := h.cache.Load(); d != nil && d.base == base {
		return d.h
	}
	out := base.h
	for _, op := range h.ops {
		out = op(out)
	}
	h.cache.Store(&derived{base, out})
	return out
}

func (h *switchHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.s.level.Level() }

func (h *switchHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.current().Handle(ctx, r)
}

func (h *switchHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return h.with(func(b slog.Handler) slog.Handler { return b.WithAttrs(attrs) })
}

func (h *switchHandler) WithGroup(name string) slog.Handler {
	return h.with(func(b slog.Handler) slog.Handler { return b.WithGroup(name) })
}

func (h *switchHandler) with(op func(slog.Handler) slog.Handler) slog.Handler {
	ops := append(append([]func(slog.Handler) slog.Handler(nil), h.ops...), op)
	return &switchHandler{s: h.s, ops: ops}
}
