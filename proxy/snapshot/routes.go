package snapshot

// Routes holds the served routes by router value (Result.Value); the entries of deleted routes
// are nil. It is split into chunks that a Snapshot shares with the one before it when its build
// did not touch them, so that a change under churn does not copy every route's pointer (80 KB at
// 10,000 routes, per build).
type Routes struct {
	chunks []*routeChunk
	n      int
}

const routeChunkBits = 8

type routeChunk [1 << routeChunkBits]*Route

// Len is the number of router values.
func (r Routes) Len() int { return r.n }

// At returns the route of router value v, nil when there is none.
func (r Routes) At(v int) *Route {
	if uint(v) >= uint(r.n) {
		return nil
	}
	return r.chunks[v>>routeChunkBits][v&(1<<routeChunkBits-1)]
}

// routeSlots is the builder's mutable Routes: freeze hands out its content, after which a chunk is
// copied before its first change (copy on write).
type routeSlots struct {
	chunks []*routeChunk
	owned  []bool // the chunk was copied (or made) since the last freeze
	n      int
}

// grow makes room for router values below n.
func (s *routeSlots) grow(n int) {
	for len(s.chunks)<<routeChunkBits < n {
		s.chunks = append(s.chunks, new(routeChunk))
		s.owned = append(s.owned, true)
	}
	s.n = max(s.n, n)
}

func (s *routeSlots) get(v int) *Route {
	return s.chunks[v>>routeChunkBits][v&(1<<routeChunkBits-1)]
}

func (s *routeSlots) set(v int, rt *Route) {
	c := v >> routeChunkBits
	if !s.owned[c] {
		cp := *s.chunks[c]
		s.chunks[c], s.owned[c] = &cp, true
	}
	s.chunks[c][v&(1<<routeChunkBits-1)] = rt
}

// freeze returns the content as Routes of n router values; the slots go on from there.
func (s *routeSlots) freeze(n int) Routes {
	clear(s.owned)
	return Routes{chunks: append([]*routeChunk(nil), s.chunks...), n: n}
}
