// Package requestid is APISIX's request-id plugin (apache/apisix apisix/plugins/request-id.lua):
// every request carries an id in a header to the upstream and, by default, back to the client.
//
// Conf: header_name ("X-Request-Id"), include_in_response (true), algorithm ("uuid": a random
// v4 UUID; "uuidv7": time-ordered, monotonic within the process; "nanoid": 21 characters of
// the URL-safe alphabet; "range_id": range_id.length characters drawn from range_id.char_set;
// "ksuid": 27 base62 characters, a timestamp and 128 random bits), range_id ({length 16 (>= 6),
// char_set (at least 6 characters; APISIX's default, "IGKLM" typo included)}).
// Phases: rewrite (priority 12015) and header filter. A request that carries a non-empty id
// keeps it; otherwise one is generated and set on the request. The response gets the request's
// id when include_in_response is set and the upstream sent none (or an empty one).
//
// Ids come from math/rand/v2's per-thread ChaCha8 generator: unpredictable enough for an id,
// lock-free, and allocation-free (APISIX draws uuid and range_id from LuaJIT's math.random,
// nanoid from OpenSSL). The id is generated into the Request's Scratch buffer.
package requestid

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// Name and Priority are APISIX's.
const (
	Name     = "request-id"
	Priority = 12015
)

// Plugin is request-id.
var Plugin plugin.Plugin = requestID{}

type requestID struct{}

func (requestID) Name() string  { return Name }
func (requestID) Priority() int { return Priority }

// The algorithms.
const (
	UUID    = "uuid"
	UUIDv7  = "uuidv7"
	NanoID  = "nanoid"
	RangeID = "range_id"
	KSUID   = "ksuid"
)

// DefaultCharSet is APISIX's default range_id.char_set, as written there.
const DefaultCharSet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIGKLMNOPQRSTUVWXYZ0123456789"

// Conf is a compiled conf.
type Conf struct {
	Header            string
	IncludeInResponse bool
	Algorithm         string
	Length            int    // range_id
	CharSet           string // range_id

	key []byte // Header as fasthttp normalises it, made once: set without normalising again
}

func (requestID) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{Length: 16, CharSet: DefaultCharSet}
	if conf.Header, err = c.String("header_name", "X-Request-Id"); err != nil {
		return nil, err
	}
	conf.key = fasthttp.AppendNormalizedHeaderKey(nil, conf.Header)
	if conf.IncludeInResponse, err = c.Bool("include_in_response", true); err != nil {
		return nil, err
	}
	if conf.Algorithm, err = c.String("algorithm", UUID); err != nil {
		return nil, err
	}
	if err := plugin.Enum("algorithm", conf.Algorithm, UUID, NanoID, RangeID, KSUID, UUIDv7); err != nil {
		return nil, err
	}
	if c.Has("range_id") {
		var top struct {
			RangeID json.RawMessage `json:"range_id"`
		}
		_ = json.Unmarshal(raw, &top)
		rc, err := plugin.ParseConf(top.RangeID)
		if err != nil {
			return nil, fmt.Errorf(`property "range_id" validation failed: %w`, err)
		}
		if conf.Length, err = rc.Int("length", 16); err != nil {
			return nil, fmt.Errorf(`property "range_id" validation failed: %w`, err)
		}
		if conf.Length < 6 {
			return nil, fmt.Errorf(`property "range_id" validation failed: property "length" validation failed: expected %d to be at least 6`, conf.Length)
		}
		if conf.CharSet, err = rc.StringLen("char_set", DefaultCharSet, 6, -1); err != nil {
			return nil, fmt.Errorf(`property "range_id" validation failed: %w`, err)
		}
	}
	return conf, nil
}

// Rewrite keeps the request's id or gives it one.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	h := &r.Ctx.Request.Header
	if len(h.Peek(c.Header)) > 0 {
		return plugin.Reply{}
	}
	r.Scratch = c.Append(r.Scratch[:0])
	h.SetCanonical(c.key, r.Scratch)
	return plugin.Reply{}
}

// HeaderFilter gives the response the request's id, unless the upstream sent one.
func (c *Conf) HeaderFilter(r *plugin.Request) {
	if !c.IncludeInResponse {
		return
	}
	rh := &r.Ctx.Response.Header
	if len(rh.Peek(c.Header)) > 0 {
		return
	}
	if id := r.Ctx.Request.Header.Peek(c.Header); len(id) > 0 {
		rh.SetCanonical(c.key, id)
	}
}

// Append appends a new id to dst.
func (c *Conf) Append(dst []byte) []byte {
	switch c.Algorithm {
	case UUIDv7:
		return appendUUIDv7(dst, time.Now())
	case NanoID:
		return appendNanoID(dst)
	case RangeID:
		for range c.Length {
			dst = append(dst, c.CharSet[rand.IntN(len(c.CharSet))])
		}
		return dst
	case KSUID:
		return appendKSUID(dst, time.Now())
	}
	return appendUUIDv4(dst)
}

func appendUUIDv4(dst []byte) []byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return appendUUID(dst, &b)
}

// v7 is the last uuidv7 state: unix milliseconds << 18 | an 18-bit sequence, as APISIX's
// core.utils.generate_uuid_v7 keeps it per worker (a new millisecond starts the sequence at 0;
// within one it counts up; past its end APISIX waits for the next millisecond, where this
// borrows it). The sequence fills rand_a and the top 6 bits of rand_b.
var v7 atomic.Uint64

func appendUUIDv7(dst []byte, now time.Time) []byte {
	ms := uint64(now.UnixMilli())
	var st uint64
	for {
		last := v7.Load()
		if ms > last>>18 {
			st = ms << 18
		} else {
			st = last + 1
		}
		if v7.CompareAndSwap(last, st) {
			break
		}
	}
	ms, seq := st>>18, st&(1<<18-1)
	var b [16]byte
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	b[6] = 0x70 | byte(seq>>14)&0x0f
	b[7] = byte(seq >> 6)
	b[8] = 0x80 | byte(seq)&0x3f
	return appendUUID(dst, &b)
}

const hexDigits = "0123456789abcdef"

// uuidHexAt is where each of the 16 bytes' two hex digits go in the 36-character text.
var uuidHexAt = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

func appendUUID(dst []byte, b *[16]byte) []byte {
	var out [36]byte
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	for i, x := range b {
		j := uuidHexAt[i]
		out[j], out[j+1] = hexDigits[x>>4], hexDigits[x&0x0f]
	}
	return append(dst, out[:]...)
}

const nanoAlphabet = "-_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

func appendNanoID(dst []byte) []byte {
	var x uint64
	for i := range 21 {
		if i%10 == 0 {
			x = rand.Uint64()
		}
		dst = append(dst, nanoAlphabet[x&63])
		x >>= 6
	}
	return dst
}

// ksuidEpoch is KSUID's epoch (segmentio/ksuid), in unix seconds.
const ksuidEpoch = 1400000000

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// appendKSUID appends a KSUID: 4 bytes of seconds since ksuidEpoch and 16 random bytes, as a
// 27-character base62 number.
func appendKSUID(dst []byte, now time.Time) []byte {
	var b [20]byte
	binary.BigEndian.PutUint32(b[:4], uint32(now.Unix()-ksuidEpoch))
	binary.BigEndian.PutUint64(b[4:12], rand.Uint64())
	binary.BigEndian.PutUint64(b[12:], rand.Uint64())
	// The number as five big-endian 32-bit words, divided by 62 until it is zero.
	var w [5]uint32
	for i := range w {
		w[i] = binary.BigEndian.Uint32(b[i*4:])
	}
	var out [27]byte
	for i := len(out) - 1; i >= 0; i-- {
		var rem uint64
		for j := range w {
			v := rem<<32 | uint64(w[j])
			w[j] = uint32(v / 62)
			rem = v % 62
		}
		out[i] = base62[rem]
	}
	return append(dst, out[:]...)
}
