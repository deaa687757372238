// Package limitcount is APISIX's limit-count plugin (apache/apisix apisix/plugins/limit-count.lua,
// apisix/plugins/limit-count/init.lua): at most count requests per time_window seconds for each
// key, in the access phase, priority 1002.
//
// Conf: count and time_window (integers > 0), window_type (fixed, sliding), key ("remote_addr")
// and key_type (var, var_combination, constant; a key with no value counts under the client
// address), group, rejected_code (503), rejected_msg, policy (local, redis, redis-cluster),
// allow_degradation (false), show_limit_quota_header (true), and the redis fields of the
// policies. Or, instead of count, time_window and key, rules[] (rules.go).
//
// The fixed window of a key starts at its first request (resty.limit.count's dict TTL); the
// sliding window is APISIX's (limit-count/sliding-window): windows aligned on multiples of
// time_window, the previous one's count weighted by the share of it still in the sliding
// window, a request admitted only while that estimate is below count. An admitted request gets
// X-RateLimit-Limit, X-RateLimit-Remaining (left after it) and X-RateLimit-Reset (seconds to the
// end of the window, 2 decimals); a rejected one the same with Remaining 0, and rejected_code
// with `{"error_msg":rejected_msg}` or nginx's page.
//
// Counters: APISIX keys a counter by the object, the conf's version (a crc32 of the conf) and
// the key, or by group and key. Here the counters of one conf live in a state kept in the
// plugin.Store under the object key and a hash of the effective conf (or the group and that
// hash): a build that leaves the conf as it was finds them again, a changed conf starts afresh,
// and the state of a conf no snapshot uses any more is collected. Unlike APISIX, routes naming
// one group with different confs count apart instead of being rejected ("group conf
// mismatched").
//
// Local policy: lock-free per key (atomic counters; a window is replaced by compare-and-swap),
// keys in a sharded map; no allocation per request once a key's window exists. Redis policies:
// APISIX's Lua script, one round trip per request (see redis.go).
package limitcount

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

// Name and Priority are APISIX's.
const (
	Name     = "limit-count"
	Priority = 1002
)

// The quota headers (APISIX's plugin_metadata defaults).
const (
	HeaderLimit     = "X-RateLimit-Limit"
	HeaderRemaining = "X-RateLimit-Remaining"
	HeaderReset     = "X-RateLimit-Reset"
)

// Plugin is limit-count on the wall clock: a request counts at the time its head was read
// (fasthttp's RequestCtx.Time), the clock read the server makes for every request anyway, as
// APISIX counts at nginx's cached time (ngx.now).
var Plugin plugin.Plugin = New(nil)

// New returns limit-count reading the time from now (nil: the request's time); tests pass
// their clock.
func New(now func() time.Time) plugin.Plugin {
	return &limitCount{now: now}
}

type limitCount struct{ now func() time.Time }

func (*limitCount) Name() string  { return Name }
func (*limitCount) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	Count, TimeWindow int64
	Sliding           bool
	Key, KeyType      string
	Group             string
	RejectedCode      int
	RejectedMsg       string
	Policy            string
	AllowDegradation  bool
	ShowQuotaHeader   bool
	Redis             limit.RedisConf

	key      limit.Key
	rules    []*rule          // APISIX 3.x rules, instead of Count/TimeWindow/key
	limitVal []byte           // Count as text
	rejected []byte           // the rejection body, nil for nginx's page
	now      func() time.Time // nil: the request's time
	back     backend
	local    bool // Policy local: keys as limit.Key.AppendLocal makes them
	// keys caches the quota headers' canonical names for the metadata's names (or the
	// defaults): made once per metadata version, so that a request allocates nothing.
	keys atomic.Pointer[quotaKeys]
}

// quotaKeys are the quota headers' names as fasthttp normalises them, for a version of the
// names (base).
type quotaKeys struct {
	base                    *Headers
	limit, remaining, reset []byte
}

func newQuotaKeys(base *Headers, limit, remaining, reset string) *quotaKeys {
	return &quotaKeys{base: base, limit: fasthttp.AppendNormalizedHeaderKey(nil, limit),
		remaining: fasthttp.AppendNormalizedHeaderKey(nil, remaining), reset: fasthttp.AppendNormalizedHeaderKey(nil, reset)}
}

// quotaKeys are the canonical forms of names.
func (c *Conf) quotaKeys(names *Headers) *quotaKeys {
	if k := c.keys.Load(); k != nil && k.base == names {
		return k
	}
	k := newQuotaKeys(names, names.Limit, names.Remaining, names.Reset)
	c.keys.Store(k)
	return k
}

// time is the time a request counts at.
func (c *Conf) time(r *plugin.Request) time.Time {
	if c.now != nil {
		return c.now()
	}
	if t := r.Ctx.Time(); !t.IsZero() {
		return t
	}
	return time.Now() // a RequestCtx no server made
}

// result is what a counter says of one request.
type result struct {
	rejected  bool
	remaining int64
	reset     float64 // seconds, before APISIX's rounding to 2 decimals
}

// backend counts: in process or in Redis.
type backend interface {
	incoming(key []byte, now time.Time) (result, error)
}

var errOneOf = errors.New("value should match only one schema, but matches none")

func (lc *limitCount) Compile(raw []byte, env *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{now: lc.now}
	if c.Has("rules") {
		if c.Has("count") || c.Has("time_window") {
			return nil, errors.New("count/time_window and rules cannot be specified at the same time")
		}
		if conf.rules, err = compileRules(c); err != nil {
			return nil, err
		}
	} else {
		if !c.Has("count") || !c.Has("time_window") {
			return nil, errOneOf
		}
		if conf.Count, err = positive(c, "count"); err != nil {
			return nil, err
		}
		if conf.TimeWindow, err = positive(c, "time_window"); err != nil {
			return nil, err
		}
	}
	wt, err := c.String("window_type", "fixed")
	if err != nil {
		return nil, err
	}
	if err := plugin.Enum("window_type", wt, "fixed", "sliding"); err != nil {
		return nil, err
	}
	conf.Sliding = wt == "sliding"
	if conf.Key, err = c.String("key", "remote_addr"); err != nil {
		return nil, err
	}
	if conf.KeyType, err = c.String("key_type", limit.TypeVar); err != nil {
		return nil, err
	}
	if err := plugin.Enum("key_type", conf.KeyType, limit.TypeVar, limit.TypeVarCombination, limit.TypeConstant); err != nil {
		return nil, err
	}
	if conf.key, err = limit.CompileKey(conf.Key, conf.KeyType); err != nil {
		return nil, err
	}
	if conf.Group, err = c.String("group", ""); err != nil {
		return nil, err
	}
	if conf.Group != "" && conf.rules != nil {
		return nil, errors.New("group and rules cannot be specified at the same time")
	}
	if conf.RejectedCode, err = c.Int("rejected_code", 503); err != nil {
		return nil, err
	}
	if conf.RejectedCode < 200 || conf.RejectedCode > 599 {
		return nil, fmt.Errorf(`property "rejected_code" validation failed: expected %d to be at least 200 and at most 599`, conf.RejectedCode)
	}
	if conf.RejectedMsg, err = c.StringLen("rejected_msg", "", 1, -1); err != nil {
		return nil, err
	}
	if conf.Policy, err = c.String("policy", "local"); err != nil {
		return nil, err
	}
	if err := plugin.Enum("policy", conf.Policy, "local", "redis", "redis-cluster", "redis-sentinel"); err != nil {
		return nil, err
	}
	conf.local = conf.Policy == "local"
	if conf.AllowDegradation, err = c.Bool("allow_degradation", false); err != nil {
		return nil, err
	}
	if conf.ShowQuotaHeader, err = c.Bool("show_limit_quota_header", true); err != nil {
		return nil, err
	}
	if err := conf.compilePolicy(c); err != nil {
		return nil, err
	}
	conf.limitVal = strconv.AppendInt(nil, conf.Count, 10)
	if conf.RejectedMsg != "" {
		b, _ := json.Marshal(struct {
			ErrorMsg string `json:"error_msg"`
		}{conf.RejectedMsg})
		conf.rejected = append(b, '\n')
	}
	var store *plugin.Store
	key := ""
	if env != nil {
		store, key = env.Store, env.Key
	}
	// The counters' id: the object (or the group) and the effective conf, as APISIX's
	// resource_key and conf_version (or group).
	version := crc32.ChecksumIEEE(fmt.Appendf(nil, "%d|%d|%t|%s|%s|%s|%d|%s|%s|%t|%+v|%s",
		conf.Count, conf.TimeWindow, conf.Sliding, conf.Key, conf.KeyType, conf.Group, conf.RejectedCode,
		conf.RejectedMsg, conf.Policy, conf.AllowDegradation, conf.Redis, rulesSig(conf.rules)))
	prefix := key + ":" + strconv.FormatUint(uint64(version), 10)
	if conf.Group != "" {
		prefix = conf.Group // APISIX: group .. ':' .. key
		key = "group:" + conf.Group + "#" + strconv.FormatUint(uint64(version), 10)
	} else {
		key = prefix
	}
	if conf.rules != nil {
		for _, ru := range conf.rules {
			// The counters of a rule: its own (count and window differ), under the same Redis
			// prefix as APISIX (its keys differ: duplicates are rejected).
			if ru.back, err = conf.newBackend(store, key+"#rule#"+ru.keyText, prefix, ru.count, ru.window, false); err != nil {
				return nil, err
			}
		}
		return conf, nil
	}
	if conf.back, err = conf.newBackend(store, key, prefix, conf.Count, conf.TimeWindow, conf.key.Constant()); err != nil {
		return nil, err
	}
	return conf, nil
}

// positive reads an `{"oneOf": [{"type": "integer", "exclusiveMinimum": 0}, {"type": "string"}]}`
// field; the string form (a variable) is not supported.
func positive(c plugin.Conf, name string) (int64, error) {
	if _, err := c.String(name, ""); err == nil {
		return 0, fmt.Errorf("property %q validation failed: a variable is not supported by zoneproxy", name)
	}
	n, err := c.Int(name, 0)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("property %q validation failed: %w", name, errOneOf)
	}
	return int64(n), nil
}

// newBackend returns the counters of the policy: the local ones kept in store under id, or the
// Redis client, with prefix the part of the Redis key before the request's key.
func (c *Conf) newBackend(store *plugin.Store, id, prefix string, count, windowS int64, constant bool) (backend, error) {
	if c.Policy != "local" {
		return c.newRedisBackend(store, prefix, count, windowS)
	}
	window := time.Duration(windowS) * time.Second
	if c.Sliding {
		st := plugin.Keep(store, "limit-count#local-sliding#"+id, func() *slidingLocal {
			return newSlidingLocal(count, window, constant)
		})
		return st, nil
	}
	st := plugin.Keep(store, "limit-count#local#"+id, func() *fixedLocal {
		return newFixedLocal(count, window, constant)
	})
	return st, nil
}

// Access counts the request and rejects it past the limit.
func (c *Conf) Access(r *plugin.Request) plugin.Reply {
	if c.rules != nil {
		return c.accessRules(r)
	}
	if c.local {
		r.Scratch = c.key.AppendLocal(r.Scratch[:0], r)
	} else {
		r.Scratch = c.key.Append(r.Scratch[:0], r)
	}
	res, err := c.back.incoming(r.Scratch, c.time(r))
	if err != nil {
		// APISIX: "failed to limit count" (logged), 500 unless allow_degradation.
		if c.AllowDegradation {
			return plugin.Reply{}
		}
		return plugin.Reply{Status: 500, Body: failedBody}
	}
	if c.ShowQuotaHeader {
		c.setHeaders(r, c.quotaKeys(c.headerNames(r)), c.limitVal, &res)
	}
	if res.rejected {
		return plugin.Reply{Status: c.RejectedCode, Body: c.rejected}
	}
	return plugin.Reply{}
}

var failedBody = []byte(`{"error_msg":"failed to limit count"}` + "\n")

// headerNames are the quota header names: the plugin_metadata's, or the defaults.
func (c *Conf) headerNames(r *plugin.Request) *Headers {
	if m, ok := r.Metadata.Get(Name).(*Headers); ok {
		return m
	}
	return &defaultHeaders
}

func (c *Conf) setHeaders(r *plugin.Request, keys *quotaKeys, limitVal []byte, res *result) {
	r.DeferResponseHeader(keys.limit, limitVal)
	rem := res.remaining
	if res.rejected {
		rem = 0
	}
	r.Scratch = strconv.AppendInt(r.Scratch[:0], rem, 10)
	r.DeferResponseHeader(keys.remaining, r.Scratch)
	r.Scratch = AppendReset(r.Scratch[:0], res.reset)
	r.DeferResponseHeader(keys.reset, r.Scratch)
}

// Headers are the names of the quota headers: limit-count's plugin_metadata (limit_header,
// remaining_header, reset_header), the X-RateLimit-* ones by default.
type Headers struct {
	Limit, Remaining, Reset string
}

var defaultHeaders = Headers{Limit: HeaderLimit, Remaining: HeaderRemaining, Reset: HeaderReset}

// CompileMetadata validates limit-count's plugin_metadata (APISIX's metadata_schema: three
// strings, defaults X-RateLimit-Limit, -Remaining, -Reset). A name that is not a valid header
// field name is rejected: it could not be sent.
func (*limitCount) CompileMetadata(raw []byte) (any, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	h := &Headers{}
	for _, f := range []struct {
		name, def string
		dst       *string
	}{{"limit_header", HeaderLimit, &h.Limit}, {"remaining_header", HeaderRemaining, &h.Remaining}, {"reset_header", HeaderReset, &h.Reset}} {
		if *f.dst, err = c.String(f.name, f.def); err != nil {
			return nil, err
		}
		if !validToken(*f.dst) {
			return nil, fmt.Errorf("property %q validation failed: %q is not a header name", f.name, *f.dst)
		}
	}
	return h, nil
}

// validToken reports whether s is an HTTP token (RFC 9110 field-name).
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// AppendReset appends X-RateLimit-Reset as APISIX writes it: the seconds floored to 2 decimals
// (math.floor(reset * 100) / 100), in Lua's number format ("60", "59.5").
func AppendReset(dst []byte, reset float64) []byte {
	if reset < 0 {
		reset = 0
	}
	// Hundredths as an integer, written with integer arithmetic: what %.14g prints for the
	// floored value, without the float formatting (a seventh of limit-count's cost).
	if reset < maxFastReset {
		n := int64(reset * 100)
		dst = strconv.AppendInt(dst, n/100, 10)
		switch f := n % 100; {
		case f == 0:
		case f%10 == 0:
			dst = append(dst, '.', byte('0'+f/10))
		default:
			dst = append(dst, '.', byte('0'+f/10), byte('0'+f%10))
		}
		return dst
	}
	return strconv.AppendFloat(dst, float64(int64(reset*100))/100, 'g', 14, 64)
}

// maxFastReset bounds AppendReset's integer path: below it, the floored value has at most 14
// significant digits, so %.14g writes it in full without an exponent. NaN fails the comparison
// and takes the float path too.
const maxFastReset = 1e11
