package snapshot

import "testing"

// TestRoutesCopyOnWrite: Routes handed out never change; the next ones share every chunk that no
// change touched.
func TestRoutesCopyOnWrite(t *testing.T) {
	const n = 1000
	var s routeSlots
	s.grow(n)
	rts := make([]*Route, n)
	for v := range n {
		rts[v] = &Route{ID: string(rune('a' + v%26))}
		s.set(v, rts[v])
	}
	first := s.freeze(n)
	changed := &Route{ID: "changed"}
	s.set(300, changed)
	s.set(301, nil)
	s.grow(n + 1)
	added := &Route{ID: "added"}
	s.set(n, added)
	second := s.freeze(n + 1)

	for v := range n {
		if first.At(v) != rts[v] {
			t.Fatalf("first.At(%d) changed after freezing", v)
		}
	}
	if first.Len() != n || first.At(n) != nil || first.At(-1) != nil {
		t.Errorf("first: Len %d, At(%d) %v, At(-1) %v", first.Len(), n, first.At(n), first.At(-1))
	}
	if second.At(300) != changed || second.At(301) != nil || second.At(n) != added || second.At(0) != rts[0] || second.Len() != n+1 {
		t.Error("second does not hold the changes")
	}
	for c := range first.chunks {
		touched := c == 300>>routeChunkBits || c == n>>routeChunkBits
		if shared := first.chunks[c] == second.chunks[c]; shared == touched {
			t.Errorf("chunk %d: shared %v, touched %v", c, shared, touched)
		}
	}
}
