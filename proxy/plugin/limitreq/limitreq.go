// Package limitreq is APISIX's limit-req plugin (apache/apisix apisix/plugins/limit-req.lua, on
// lua-resty-limit-traffic's resty/limit/req.lua): a leaky bucket per key, in the access phase,
// priority 1001.
//
// Conf: rate (> 0 requests per second), burst (>= 0), key (required) and key_type (var,
// var_combination; no value: the client address), rejected_code (503), rejected_msg, nodelay
// (false), policy (local; redis and redis-cluster with limit-count's fields and client, see
// redis.go: one atomic script run per request, a bucket shared by every zoneproxy),
// allow_degradation (Redis unreachable: let through, else 500). A key's excess drains at rate; a
// request that would bring it past burst is rejected; one that finds an excess waits
// excess/rate seconds first (nodelay: goes at once). The wait holds no lock: only the request's
// own goroutine sleeps, the bucket is updated before it and other requests go on.
package limitreq

import (
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

// Name and Priority are APISIX's.
const (
	Name     = "limit-req"
	Priority = 1001
)

// Plugin is limit-req on the wall clock.
var Plugin plugin.Plugin = New(nil, nil)

// New returns limit-req reading the time from now and waiting with sleep (nil: time.Now,
// time.Sleep); tests pass theirs.
func New(now func() time.Time, sleep func(time.Duration)) plugin.Plugin {
	if now == nil {
		now = time.Now
	}
	if sleep == nil {
		sleep = time.Sleep
	}
	return &limitReq{now: now, sleep: sleep}
}

type limitReq struct {
	now   func() time.Time
	sleep func(time.Duration)
}

func (*limitReq) Name() string  { return Name }
func (*limitReq) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	Rate, Burst float64
	NoDelay     bool
	limit.Common

	buckets *buckets
	redis   *redisBuckets // policy redis or redis-cluster
	now     func() time.Time
	sleep   func(time.Duration)
}

func (lr *limitReq) Compile(raw []byte, env *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Required("rate", "burst", "key"); err != nil {
		return nil, err
	}
	conf := &Conf{now: lr.now, sleep: lr.sleep}
	if conf.Rate, err = c.Number("rate", 0); err != nil {
		return nil, err
	}
	if conf.Rate <= 0 {
		return nil, fmt.Errorf(`property "rate" validation failed: expected %v to be greater than 0`, conf.Rate)
	}
	if conf.Burst, err = c.Number("burst", 0); err != nil {
		return nil, err
	}
	if conf.Burst < 0 {
		return nil, fmt.Errorf(`property "burst" validation failed: expected %v to be at least 0`, conf.Burst)
	}
	if conf.Common, err = limit.CompileCommon(c, "limit-req", true); err != nil {
		return nil, err
	}
	if conf.NoDelay, err = c.Bool("nodelay", false); err != nil {
		return nil, err
	}
	var store *plugin.Store
	id := ""
	if env != nil {
		store, id = env.Store, env.Key
	}
	// The buckets of one conf: kept while the conf is (APISIX keys them by the object and the
	// conf's version).
	version := crc32.ChecksumIEEE(fmt.Appendf(nil, "%v|%v|%s|%s", conf.Rate, conf.Burst, conf.Key, conf.KeyType))
	if conf.Policy != "local" {
		conf.redis = newRedisBuckets(store, conf, id+":"+strconv.FormatUint(uint64(version), 10))
		return conf, nil
	}
	conf.buckets = plugin.Keep(store, "limit-req#"+id+"#"+strconv.FormatUint(uint64(version), 10), func() *buckets {
		return newBuckets(conf.Rate)
	})
	return conf, nil
}

// buckets are the leaky buckets of one conf, by key.
type buckets struct {
	keys *limit.Table[bucket]
}

// bucket is resty.limit.req's record: the excess (in requests) at the time of the last request
// admitted. Its lock is held only to update the two fields, never during a wait.
type bucket struct {
	mu     sync.Mutex
	excess float64
	last   int64 // unix ns; 0: none yet
}

func newBuckets(rate float64) *buckets {
	return &buckets{keys: limit.NewTable(func(b *bucket, now int64) bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		// Drained to nothing for a while: the record says no more than its absence.
		return b.last == 0 || float64(now-b.last)/1e9*rate > b.excess+1
	})}
}

// incoming is resty.limit.req's incoming(key, true): the delay of an admitted request, or
// rejected.
func (c *Conf) incoming(b *bucket, now int64) (time.Duration, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	excess := 0.0
	if b.last != 0 {
		elapsed := math.Abs(float64(now-b.last)) / 1e9
		excess = max(b.excess-c.Rate*elapsed+1, 0)
		if excess > c.Burst {
			return 0, false
		}
	}
	b.excess, b.last = excess, now
	return time.Duration(excess / c.Rate * float64(time.Second)), true
}

// Access admits, delays or rejects the request.
func (c *Conf) Access(r *plugin.Request) plugin.Reply {
	r.Scratch = c.CompiledKey.Append(r.Scratch[:0], r)
	var delay time.Duration
	if c.redis != nil {
		var err error
		delay, err = c.redis.incoming(r.Scratch, c.now())
		switch {
		case errors.Is(err, errRejected):
			return plugin.Reply{Status: c.RejectedCode, Body: c.Rejected}
		case err != nil:
			// APISIX: "failed to limit req" (logged), 500 unless allow_degradation.
			if c.AllowDegradation {
				return plugin.Reply{}
			}
			return plugin.Reply{Status: 500}
		}
	} else {
		now := c.now().UnixNano()
		var ok bool
		if delay, ok = c.incoming(c.buckets.keys.Get(r.Scratch, now), now); !ok {
			return plugin.Reply{Status: c.RejectedCode, Body: c.Rejected}
		}
	}
	if delay >= time.Millisecond && !c.NoDelay {
		c.sleep(delay)
	}
	return plugin.Reply{}
}
