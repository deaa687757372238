package limitcount

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

func (c *Conf) compilePolicy(conf plugin.Conf) error {
	if c.Policy == "local" {
		return nil
	}
	if c.Policy == "redis-sentinel" {
		return errors.New(`property "policy" validation failed: redis-sentinel is not supported by zoneproxy`)
	}
	if c.Sliding {
		return errors.New(`property "window_type" validation failed: sliding with a redis policy is not supported by zoneproxy yet`)
	}
	var err error
	c.Redis, err = limit.CompileRedis(conf, c.Policy)
	return err
}

// commitScript is APISIX's (limit-count/util.lua): the window starts with the first request of
// a key (SET with the window as TTL) and each request adds its cost; it returns the count and
// the TTL in ms. One round trip per request, atomic in Redis.
var commitScript = redis.NewScript(`assert(tonumber(ARGV[3]) >= 0, "cost must be at least 0")
local ttl = redis.call('pttl', KEYS[1])
if ttl < 0 then
    redis.call('set', KEYS[1], ARGV[3], 'EX', ARGV[2])
    return {ARGV[3], ARGV[2] * 1000}
end
return {redis.call('incrby', KEYS[1], ARGV[3]), ttl}`)

// keyVersion is APISIX's KEY_VERSION: keys are plugin-limit-count:v1:<prefix>:<key>.
const keyVersion = "v1"

// redisBackend counts in Redis under plugin-limit-count:v1:<prefix>:<key>.
type redisBackend struct {
	cli            *limit.RedisClient
	prefix         []byte
	limit, window  int64
	limitS, windwS string
	timeout        time.Duration
}

func (c *Conf) newRedisBackend(store *plugin.Store, prefix string, count, window int64) (backend, error) {
	r := c.Redis
	cli := limit.SharedRedisClient(store, c.Policy, r)
	return &redisBackend{
		cli:    cli,
		prefix: []byte("plugin-limit-count:" + keyVersion + ":" + prefix + ":"),
		limit:  count, window: window,
		limitS: strconv.FormatInt(count, 10), windwS: strconv.FormatInt(window, 10),
		timeout: r.Timeout,
	}, nil
}

// ErrRedisReply is a reply of the script that is not {count, ttl}.
var ErrRedisReply = errors.New("limit-count: unexpected reply from redis")

func (b *redisBackend) incoming(key []byte, _ time.Time) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	k := string(append(b.prefix[:len(b.prefix):len(b.prefix)], key...))
	res, err := commitScript.Run(ctx, b.cli.C, []string{k}, b.limitS, b.windwS, "1").Slice()
	if err != nil {
		return result{}, fmt.Errorf("limit-count: redis: %w", err)
	}
	if len(res) != 2 {
		return result{}, ErrRedisReply
	}
	count, ok1 := toInt(res[0])
	ttl, ok2 := toInt(res[1])
	if !ok1 || !ok2 {
		return result{}, ErrRedisReply
	}
	rem := b.limit - count
	return result{rejected: rem < 0, remaining: rem, reset: float64(ttl) / 1000}, nil
}

// toInt reads an integer reply, or the string one the script returns for a new window.
func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}
