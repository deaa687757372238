package limitreq

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

// leakScript is the leaky bucket of APISIX's redis policies (limit-req/util.lua), run in Redis
// so that reading, draining and storing a key's state is one atomic step and one round trip:
// the state is a hash {excess, last}; rate and burst are scaled by 1000, now is in ms. A first
// request finds no state and is admitted with excess 0; a later one drains the excess by the
// time elapsed, adds one request (1000) and is rejected, storing nothing, when that exceeds
// burst. The reply is {1|0, excess as text} (text keeps the fraction Redis would cut off).
var leakScript = redis.NewScript(`local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local st = redis.call('hmget', KEYS[1], 'excess', 'last')
local excess = 0
if st[1] and st[2] then
  excess = math.max(tonumber(st[1]) - rate * math.abs(now - tonumber(st[2])) / 1000 + 1000, 0)
  if excess > burst then
    return {0, tostring(excess)}
  end
end
redis.call('hset', KEYS[1], 'excess', excess, 'last', now)
redis.call('expire', KEYS[1], tonumber(ARGV[4]))
return {1, tostring(excess)}`)

// redisBuckets are the buckets of one conf in Redis, under limit_req:<object>:<version>:<key>
// as APISIX names them.
type redisBuckets struct {
	cli     *limit.RedisClient
	prefix  []byte
	rate    string // rate × 1000
	burst   string // burst × 1000
	ttl     string // seconds: ceil(burst / rate) + 1
	rate1k  float64
	timeout time.Duration
}

func newRedisBuckets(store *plugin.Store, c *Conf, prefix string) *redisBuckets {
	return &redisBuckets{
		cli:    limit.SharedRedisClient(store, c.Policy, c.Redis),
		prefix: []byte("limit_req:" + prefix + ":"),
		rate:   strconv.FormatFloat(c.Rate*1000, 'f', -1, 64),
		burst:  strconv.FormatFloat(c.Burst*1000, 'f', -1, 64),
		ttl:    strconv.FormatInt(int64(math.Ceil(c.Burst/c.Rate))+1, 10),
		rate1k: c.Rate * 1000, timeout: c.Redis.Timeout,
	}
}

// errRejected is a request over the bucket's burst.
var errRejected = errors.New("rejected")

// incoming runs the script for key: the delay of an admitted request, errRejected, or the
// Redis error. It never takes longer than redis_timeout.
func (b *redisBuckets) incoming(key []byte, now time.Time) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	k := string(append(b.prefix[:len(b.prefix):len(b.prefix)], key...))
	nowMS := strconv.FormatInt(now.UnixMilli(), 10)
	res, err := leakScript.Run(ctx, b.cli.C, []string{k}, b.rate, b.burst, nowMS, b.ttl).Slice()
	if err != nil {
		return 0, fmt.Errorf("limit-req: redis: %w", err)
	}
	if len(res) != 2 {
		return 0, errReply
	}
	allowed, ok := res[0].(int64)
	s, ok2 := res[1].(string)
	excess, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if !ok || !ok2 || err != nil {
		return 0, errReply
	}
	if allowed == 0 {
		return 0, errRejected
	}
	return time.Duration(excess / b.rate1k * float64(time.Second)), nil
}

var errReply = errors.New("limit-req: unexpected reply from redis")
