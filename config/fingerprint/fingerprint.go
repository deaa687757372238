package fingerprint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
)

// Kinds are the object kinds under the prefix that count in a fingerprint.
var Kinds = []string{
	"routes", "services", "upstreams", "consumers", "ssls", "global_rules", "plugin_configs",
	"consumer_groups", "plugin_metadata", "stream_routes", "protos", "secrets",
}

// ErrNotObject is returned by Canonical for a value that is not a JSON object.
var ErrNotObject = errors.New("value is not a JSON object")

// Digest is the fingerprint of a configuration. The zero value is not the digest of anything;
// use Of or a Set.
type Digest [sha256.Size]byte

// String is the first 128 bits of d in lower-case hex.
func (d Digest) String() string { return hex.EncodeToString(d[:16]) }

// RelKey returns key relative to prefix ("routes/1") and whether it is the key of an object that
// counts (see Kinds).
func RelKey(prefix, key string) (string, bool) {
	rel, ok := strings.CutPrefix(key, prefix+"/")
	if !ok {
		return "", false
	}
	kind, id, ok := strings.Cut(rel, "/")
	if !ok || id == "" || !slices.Contains(Kinds, kind) {
		return "", false
	}
	if kind == "consumers" && strings.Contains(id, "/") {
		name, cred, _ := strings.Cut(id, "/")
		c, credID, ok := strings.Cut(cred, "/")
		if name == "" || c != "credentials" || !ok || credID == "" || strings.Contains(credID, "/") {
			return "", false
		}
	} else if strings.Contains(id, "/") {
		return "", false
	}
	return rel, true
}

// Canonical returns value, a JSON object, normalised as the package doc says: create_time,
// update_time and id dropped at the top, keys sorted, numbers in their shortest form.
func Canonical(value []byte) ([]byte, error) {
	v, err := decode(value)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, ErrNotObject
	}
	delete(m, "create_time")
	delete(m, "update_time")
	delete(m, "id")
	var b bytes.Buffer
	if err := encode(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func decode(value []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotObject, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: data after the object", ErrNotObject)
	}
	return v, nil
}

// encode writes v canonically: Go's json encoding sorts map keys; numbers are rewritten first.
func encode(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(normalNumbers(v)); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

func normalNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = normalNumbers(e)
		}
	case json.Number:
		return json.Number(shortNumber(string(x)))
	}
	return v
}

// shortNumber writes an integer literal as is (without a leading minus on zero) and any other
// number in the shortest form that parses back to the same float64, integral ones without a
// fraction when they fit in 2^53.
func shortNumber(s string) string {
	if _, err := strconv.ParseInt(s, 10, 64); err == nil {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Hash is the digest of one object: SHA-256 of its relative key ("routes/1"), a zero byte and
// its canonical value (Canonical). ObjectHash is Hash after RelKey and Canonical.
func Hash(rel string, canonical []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(rel))
	h.Write([]byte{0})
	h.Write(canonical)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// ObjectHash returns the digest of the object under key (full key) with value, and false when it
// does not count (see RelKey and Canonical).
func ObjectHash(prefix, key string, value []byte) ([sha256.Size]byte, bool) {
	rel, ok := RelKey(prefix, key)
	if !ok {
		return [sha256.Size]byte{}, false
	}
	c, err := Canonical(value)
	if err != nil {
		return [sha256.Size]byte{}, false
	}
	return Hash(rel, c), true
}

// Set is a multiset of object hashes. The zero value is empty.
type Set struct {
	sum [4]uint64 // little-endian limbs of a 256-bit sum
	n   int64
}

// Add adds an object hash.
func (s *Set) Add(h [sha256.Size]byte) {
	var carry uint64
	for i := range s.sum {
		s.sum[i], carry = bits.Add64(s.sum[i], binary.LittleEndian.Uint64(h[8*i:]), carry)
	}
	s.n++
}

// Remove removes an object hash added before.
func (s *Set) Remove(h [sha256.Size]byte) {
	var borrow uint64
	for i := range s.sum {
		s.sum[i], borrow = bits.Sub64(s.sum[i], binary.LittleEndian.Uint64(h[8*i:]), borrow)
	}
	s.n--
}

// Len is the number of objects in s.
func (s *Set) Len() int { return int(s.n) }

// Digest is the fingerprint of the objects in s.
func (s *Set) Digest() Digest {
	var buf [40]byte
	for i, v := range s.sum {
		binary.LittleEndian.PutUint64(buf[8*i:], v)
	}
	binary.LittleEndian.PutUint64(buf[32:], uint64(s.n))
	return Digest(sha256.Sum256(buf[:]))
}

// Of returns the fingerprint of kvs, full keys under prefix to values; keys that do not count
// are skipped.
func Of(prefix string, kvs map[string][]byte) Digest {
	var s Set
	for k, v := range kvs {
		if h, ok := ObjectHash(prefix, k, v); ok {
			s.Add(h)
		}
	}
	return s.Digest()
}
