package upstream

import (
	"slices"
	"strconv"
)

// The consistent-hash ring: pointsPerUnit virtual points per weight unit (weights divided by
// their gcd, as resty.chash does), placed by a hash of the node's address and the point's
// number, so a node's points do not depend on the other nodes and adding one node to n moves
// about 1/(n+1) of the keys. A bucket table over the hash's top bits makes a lookup O(1).

const (
	pointsPerUnit = 160
	maxRingPoints = 1 << 18
)

type ring struct {
	points []uint64 // sorted
	owners []uint16 // node index of each point
	table  []uint32 // bucket b → first point whose hash>>shift >= b; len = buckets+1
	shift  uint
}

// newRing builds a ring over nodes (indices) with the given weights (> 0), addresses naming
// the points.
func newRing(nodes []uint16, weights []int, addrs []string) *ring {
	units := normalizeWeights(weights, maxRingPoints/pointsPerUnit)
	total := 0
	for _, u := range units {
		total += u
	}
	per := pointsPerUnit // fewer points per unit only for huge node counts
	if total*per > maxRingPoints {
		per = max(1, maxRingPoints/total)
	}
	type point struct {
		h     uint64
		owner uint16
	}
	pts := make([]point, 0, total*per)
	var num [20]byte
	for i, n := range nodes {
		base := hashString(hashString(fnvOffset, addrs[i]), "#")
		for j := range units[i] * per {
			pts = append(pts, point{fmix64(hashBytes(base, strconv.AppendInt(num[:0], int64(j), 10))), n})
		}
	}
	slices.SortFunc(pts, func(a, b point) int {
		switch {
		case a.h < b.h:
			return -1
		case a.h > b.h:
			return 1
		}
		return int(a.owner) - int(b.owner)
	})
	r := &ring{points: make([]uint64, len(pts)), owners: make([]uint16, len(pts))}
	for i, p := range pts {
		r.points[i], r.owners[i] = p.h, p.owner
	}
	bits := uint(1)
	for 1<<bits < len(pts) {
		bits++
	}
	r.shift = 64 - bits
	r.table = make([]uint32, 1<<bits+1)
	i := 0
	for b := range r.table {
		for i < len(r.points) && r.points[i]>>r.shift < uint64(b) {
			i++
		}
		r.table[b] = uint32(i)
	}
	return r
}

// search returns the index of the first point at or after h, wrapping to 0.
func (r *ring) search(h uint64) int {
	b := h >> r.shift
	i, end := int(r.table[b]), int(r.table[b+1])
	for i < end && r.points[i] < h {
		i++
	}
	if i == len(r.points) {
		i = 0
	}
	return i
}

// FNV-1a, byte-serial so that a key can be hashed in pieces, finished by fmix64.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * fnvPrime
	}
	return h
}

func hashBytes(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

func hashLower(h uint64, b []byte) uint64 {
	for _, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
