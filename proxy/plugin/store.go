package plugin

import "sync"

// Store keeps plugin state that must outlive one snapshot, by an id the plugin chooses (for
// limit-count: the object key, a hash of the conf and the group, as APISIX keys its counters),
// so that a conf left unchanged by an update finds its state again. It is safe for concurrent
// use; the Builder owns one for its lifetime.
type Store struct {
	mu sync.Mutex
	m  map[string]any
}

// Shared returns the value stored under id, making it with mk the first time.
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
