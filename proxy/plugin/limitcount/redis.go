package limitcount

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// RedisConf is the conf of the redis and redis-cluster policies (apisix/utils/redis-schema.lua).
type RedisConf struct {
	Host, Username, Password string
	Port, Database           int
	Timeout                  time.Duration // redis_timeout (ms), 1s
	SSL, SSLVerify           bool
	ClusterNodes             []string
	ClusterName              string
}

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
	r := &c.Redis
	var err error
	if r.Password, err = conf.String("redis_password", ""); err != nil {
		return err
	}
	ms, err := conf.Int("redis_timeout", 1000)
	if err != nil {
		return err
	}
	if ms < 1 {
		return fmt.Errorf(`property "redis_timeout" validation failed: expected %d to be at least 1`, ms)
	}
	r.Timeout = time.Duration(ms) * time.Millisecond
	if c.Policy == "redis-cluster" {
		if err := conf.Required("redis_cluster_nodes", "redis_cluster_name"); err != nil {
			return err
		}
		if r.ClusterNodes, err = conf.StringList("redis_cluster_nodes", 1, false); err != nil {
			return err
		}
		for i, n := range r.ClusterNodes {
			if len(n) < 2 || len(n) > 100 {
				return fmt.Errorf(`property "redis_cluster_nodes" validation failed: failed to validate item %d: string length must be 2 to 100`, i+1)
			}
			if _, _, err := net.SplitHostPort(n); err != nil {
				return fmt.Errorf("failed to parse address: %s err: %v", n, err)
			}
		}
		if r.ClusterName, err = conf.String("redis_cluster_name", ""); err != nil {
			return err
		}
		if r.SSL, err = conf.Bool("redis_cluster_ssl", false); err != nil {
			return err
		}
		r.SSLVerify, err = conf.Bool("redis_cluster_ssl_verify", false)
		return err
	}
	if err := conf.Required("redis_host"); err != nil {
		return err
	}
	if r.Host, err = conf.StringLen("redis_host", "", 2, -1); err != nil {
		return err
	}
	if r.Port, err = conf.Int("redis_port", 6379); err != nil {
		return err
	}
	if r.Port < 1 {
		return fmt.Errorf(`property "redis_port" validation failed: expected %d to be at least 1`, r.Port)
	}
	if r.Username, err = conf.StringLen("redis_username", "", 1, -1); err != nil {
		return err
	}
	if r.Database, err = conf.Int("redis_database", 0); err != nil {
		return err
	}
	if r.Database < 0 {
		return fmt.Errorf(`property "redis_database" validation failed: expected %d to be at least 0`, r.Database)
	}
	if r.SSL, err = conf.Bool("redis_ssl", false); err != nil {
		return err
	}
	r.SSLVerify, err = conf.Bool("redis_ssl_verify", false)
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

// redisClient is one go-redis client (a connection pool), shared by every conf naming the same
// server with the same settings, across builds; closed once no conf uses it.
type redisClient struct {
	c redis.Scripter
}

// redisBackend counts in Redis under plugin-limit-count:v1:<prefix>:<key>.
type redisBackend struct {
	cli            *redisClient
	prefix         []byte
	limit, window  int64
	limitS, windwS string
	timeout        time.Duration
}

func (c *Conf) newRedisBackend(store *plugin.Store, prefix string, count, window int64) (backend, error) {
	r := c.Redis
	id := fmt.Sprintf("limit-count#redis#%s#%+v", c.Policy, r)
	cli := plugin.Keep(store, id, func() *redisClient { return newRedisClient(c.Policy, r) })
	return &redisBackend{
		cli:    cli,
		prefix: []byte("plugin-limit-count:" + keyVersion + ":" + prefix + ":"),
		limit:  count, window: window,
		limitS: strconv.FormatInt(count, 10), windwS: strconv.FormatInt(window, 10),
		timeout: r.Timeout,
	}, nil
}

// newRedisClient makes the client: every network step bounded by redis_timeout, no retry (a
// request is never held longer than the timeout), the pool as APISIX's keepalive pool.
func newRedisClient(policy string, r RedisConf) *redisClient {
	var tlsConf *tls.Config
	if r.SSL {
		tlsConf = &tls.Config{InsecureSkipVerify: !r.SSLVerify, MinVersion: tls.VersionTLS12}
	}
	var c redis.UniversalClient
	if policy == "redis-cluster" {
		c = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: r.ClusterNodes, Password: r.Password, TLSConfig: tlsConf,
			DialTimeout: r.Timeout, ReadTimeout: r.Timeout, WriteTimeout: r.Timeout, PoolTimeout: r.Timeout,
			ContextTimeoutEnabled: true, MaxRetries: -1, MaxRedirects: 3, DialerRetries: 1,
			DisableIdentity: true,
		})
	} else {
		host, user := r.Host, r.Username
		if r.Password == "" {
			user = "" // APISIX authenticates only with a password
		}
		if tlsConf != nil {
			tlsConf.ServerName = host
		}
		c = redis.NewClient(&redis.Options{
			Addr: net.JoinHostPort(host, strconv.Itoa(r.Port)), Username: user, Password: r.Password,
			DB: r.Database, TLSConfig: tlsConf,
			DialTimeout: r.Timeout, ReadTimeout: r.Timeout, WriteTimeout: r.Timeout, PoolTimeout: r.Timeout,
			ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1, PoolSize: 100,
			DisableIdentity: true,
		})
	}
	rc := &redisClient{c: c}
	runtime.AddCleanup(rc, func(c redis.UniversalClient) { _ = c.Close() }, c)
	return rc
}

// ErrRedisReply is a reply of the script that is not {count, ttl}.
var ErrRedisReply = errors.New("limit-count: unexpected reply from redis")

func (b *redisBackend) incoming(key []byte, _ time.Time) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	k := string(append(b.prefix[:len(b.prefix):len(b.prefix)], key...))
	res, err := commitScript.Run(ctx, b.cli.c, []string{k}, b.limitS, b.windwS, "1").Slice()
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
