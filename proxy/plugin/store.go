package plugin

import (
	"runtime"
	"sync"
	"weak"
)

// Store keeps plugin state that must outlive one snapshot, by an id the plugin chooses (for
// limit-count: the object key, a hash of the conf and the group, as APISIX keys its counters),
// so that a conf left unchanged by an update finds its state again. It is safe for concurrent
// use; the Builder owns one for its lifetime.
//
// Shared keeps a value for the Store's lifetime; Keep holds it only while something else does
// (the compiled Instances of the snapshots in use), so that the state of a conf that was changed
// or deleted goes once no snapshot refers to it any more.
type Store struct {
	mu sync.Mutex
	m  map[string]any
}

// Shared returns the value stored under id, making it with mk the first time. The value is
// never dropped: use Keep for state whose ids change with the conf.
func (s *Store) Shared(id string, mk func() any) any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[id]; ok {
		return v
	}
	if s.m == nil {
		s.m = map[string]any{}
	}
	v := mk()
	s.m[id] = v
	return v
}

// weakRef is a value Keep holds weakly.
type weakRef[T any] struct{ p weak.Pointer[T] }

func (w weakRef[T]) gone() bool { return w.p.Value() == nil }

// Keep returns the value kept under id while it is still in use, or makes one with mk. The Store
// holds it weakly: once nothing else refers to it (every Instance that held it is gone with its
// snapshot) it is collected and its id forgotten, and a later Keep makes a new one. A nil Store
// makes a new value every time.
func Keep[T any](s *Store, id string, mk func() *T) *T {
	if s == nil {
		return mk()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.m[id]; ok {
		if w, ok := v.(weakRef[T]); ok {
			if p := w.p.Value(); p != nil {
				return p
			}
		}
	}
	if s.m == nil {
		s.m = map[string]any{}
	}
	p := mk()
	s.m[id] = weakRef[T]{weak.Make(p)}
	runtime.AddCleanup(p, s.forget, id)
	return p
}

// forget drops id once the value Keep held under it is collected, unless a new one took its
// place.
func (s *Store) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.m[id].(interface{ gone() bool }); ok && w.gone() {
		delete(s.m, id)
	}
}

// Len is the number of ids the Store holds (for tests).
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
