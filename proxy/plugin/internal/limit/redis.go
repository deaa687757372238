package limit

import (
	"crypto/tls"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

// RedisConf is the conf of the redis and redis-cluster policies of limit-count and limit-req
// (apisix/utils/redis-schema.lua).
type RedisConf struct {
	Host, Username, Password string
	Port, Database           int
	Timeout                  time.Duration // redis_timeout (ms), 1s
	SSL, SSLVerify           bool
	ClusterNodes             []string
	ClusterName              string
}

// CompileRedis reads the fields of policy ("redis" or "redis-cluster") with APISIX's defaults
// and error texts.
func CompileRedis(conf plugin.Conf, policy string) (RedisConf, error) {
	var rc RedisConf
	r := &rc
	var err error
	if r.Password, err = conf.String("redis_password", ""); err != nil {
		return rc, err
	}
	ms, err := conf.Int("redis_timeout", 1000)
	if err != nil {
		return rc, err
	}
	if ms < 1 {
		return rc, fmt.Errorf(`property "redis_timeout" validation failed: expected %d to be at least 1`, ms)
	}
	r.Timeout = time.Duration(ms) * time.Millisecond
	// Validated as APISIX does; the pool is go-redis's (PoolSize, idle connections reused).
	if ka, err := conf.Int("redis_keepalive_timeout", 10000); err != nil {
		return rc, err
	} else if ka < 1000 {
		return rc, fmt.Errorf(`property "redis_keepalive_timeout" validation failed: expected %d to be at least 1000`, ka)
	}
	if kp, err := conf.Int("redis_keepalive_pool", 100); err != nil {
		return rc, err
	} else if kp < 1 {
		return rc, fmt.Errorf(`property "redis_keepalive_pool" validation failed: expected %d to be at least 1`, kp)
	}
	if policy == "redis-cluster" {
		if err := conf.Required("redis_cluster_nodes", "redis_cluster_name"); err != nil {
			return rc, err
		}
		if r.ClusterNodes, err = conf.StringList("redis_cluster_nodes", 1, false); err != nil {
			return rc, err
		}
		for i, n := range r.ClusterNodes {
			if len(n) < 2 || len(n) > 100 {
				return rc, fmt.Errorf(`property "redis_cluster_nodes" validation failed: failed to validate item %d: string length must be 2 to 100`, i+1)
			}
			if _, _, err := net.SplitHostPort(n); err != nil {
				return rc, fmt.Errorf("failed to parse address: %s err: %v", n, err)
			}
		}
		if r.ClusterName, err = conf.String("redis_cluster_name", ""); err != nil {
			return rc, err
		}
		if r.SSL, err = conf.Bool("redis_cluster_ssl", false); err != nil {
			return rc, err
		}
		r.SSLVerify, err = conf.Bool("redis_cluster_ssl_verify", false)
		return rc, err
	}
	if err := conf.Required("redis_host"); err != nil {
		return rc, err
	}
	if r.Host, err = conf.StringLen("redis_host", "", 2, -1); err != nil {
		return rc, err
	}
	if r.Port, err = conf.Int("redis_port", 6379); err != nil {
		return rc, err
	}
	if r.Port < 1 {
		return rc, fmt.Errorf(`property "redis_port" validation failed: expected %d to be at least 1`, r.Port)
	}
	if r.Username, err = conf.StringLen("redis_username", "", 1, -1); err != nil {
		return rc, err
	}
	if r.Database, err = conf.Int("redis_database", 0); err != nil {
		return rc, err
	}
	if r.Database < 0 {
		return rc, fmt.Errorf(`property "redis_database" validation failed: expected %d to be at least 0`, r.Database)
	}
	if r.SSL, err = conf.Bool("redis_ssl", false); err != nil {
		return rc, err
	}
	r.SSLVerify, err = conf.Bool("redis_ssl_verify", false)
	return rc, err
}

// RedisClient is one go-redis client (a connection pool), shared by every conf naming the same
// server with the same settings, of limit-count and limit-req alike, across builds; closed once
// no conf uses it.
type RedisClient struct {
	C redis.Scripter
}

// SharedRedisClient returns the client of policy and r kept in store.
func SharedRedisClient(store *plugin.Store, policy string, r RedisConf) *RedisClient {
	id := fmt.Sprintf("limit#redis#%s#%+v", policy, r)
	return plugin.Keep(store, id, func() *RedisClient { return newRedisClient(policy, r) })
}

// newRedisClient makes the client: every network step bounded by redis_timeout, no retry (a
// request is never held longer than the timeout), the pool as APISIX's keepalive pool.
func newRedisClient(policy string, r RedisConf) *RedisClient {
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
	rc := &RedisClient{C: c}
	runtime.AddCleanup(rc, func(c redis.UniversalClient) { _ = c.Close() }, c)
	return rc
}
