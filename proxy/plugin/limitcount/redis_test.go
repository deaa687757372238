package limitcount

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zoneproxy/zoneproxy/internal/testutil"
	"github.com/zoneproxy/zoneproxy/proxy/plugin"
)

func TestRedisCompile(t *testing.T) {
	for _, tt := range []struct{ name, conf, err string }{
		{"redis", `{"count":1,"time_window":1,"policy":"redis","redis_host":"127.0.0.1","redis_port":6380,"redis_username":"u","redis_password":"p","redis_database":2,"redis_timeout":200,"redis_ssl":false}`, ""},
		{"redis-cluster", `{"count":1,"time_window":1,"policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:7000"],"redis_cluster_name":"c"}`, ""},
		{"no redis_host", `{"count":1,"time_window":1,"policy":"redis"}`, `property "redis_host" is required`},
		{"short redis_host", `{"count":1,"time_window":1,"policy":"redis","redis_host":"h"}`, `property "redis_host" validation failed: string too short`},
		{"redis_port", `{"count":1,"time_window":1,"policy":"redis","redis_host":"localhost","redis_port":0}`, `property "redis_port" validation failed`},
		{"redis_database", `{"count":1,"time_window":1,"policy":"redis","redis_host":"localhost","redis_database":-1}`, `property "redis_database" validation failed`},
		{"redis_timeout", `{"count":1,"time_window":1,"policy":"redis","redis_host":"localhost","redis_timeout":0}`, `property "redis_timeout" validation failed`},
		{"cluster without name", `{"count":1,"time_window":1,"policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:7000"]}`, `property "redis_cluster_name" is required`},
		{"cluster without nodes", `{"count":1,"time_window":1,"policy":"redis-cluster","redis_cluster_nodes":[],"redis_cluster_name":"c"}`, `property "redis_cluster_nodes" validation failed: expect array to have at least 1 items`},
		{"cluster node", `{"count":1,"time_window":1,"policy":"redis-cluster","redis_cluster_nodes":["nohost"],"redis_cluster_name":"c"}`, `failed to parse address: nohost`},
		{"sentinel", `{"count":1,"time_window":1,"policy":"redis-sentinel"}`, `redis-sentinel is not supported`},
		{"sliding", `{"count":1,"time_window":1,"policy":"redis","redis_host":"localhost","window_type":"sliding"}`, `sliding with a redis policy is not supported`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), nil)
			if tt.err == "" && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func redisConf(policy, where string, count int, extra string) string {
	return fmt.Sprintf(`{"count":%d,"time_window":60,"policy":%q,%s%s}`, count, policy, where, extra)
}

// TestRedis: the quota headers and the rejection come from Redis's count and TTL; the count is
// APISIX's key (plugin-limit-count:v1:<object>:<version>:<key>).
func TestRedis(t *testing.T) {
	srv := testutil.StartRedis(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	c := compile(t, Plugin, redisConf("redis", fmt.Sprintf(`"redis_host":%q,"redis_port":%s`, host, port), 2, ""), &plugin.Env{Key: "/apisix/routes/1"})
	r := request("10.0.0.1", nil)
	for i, want := range []struct {
		status int
		quota  string
	}{{200, "2 1 60"}, {200, "2 0 "}, {503, "2 0 "}} {
		st, q := hit(c, r)
		if st != want.status || !strings.HasPrefix(q, want.quota) {
			t.Fatalf("request %d: %d %q, want %d %q...", i, st, q, want.status, want.quota)
		}
	}
}

// TestRedisSharedLimit: two independent instances (their own Store, client and Conf, as two
// zoneproxy processes) share one limit exactly: n admitted of 1,000 sent by both at once.
func TestRedisSharedLimit(t *testing.T) {
	single := testutil.StartRedis(t)
	host, port, _ := net.SplitHostPort(single.Addr)
	cases := []struct{ name, policy, where string }{
		{"redis", "redis", fmt.Sprintf(`"redis_host":%q,"redis_port":%s,"redis_timeout":5000`, host, port)},
	}
	if !testing.Short() {
		cl := testutil.StartRedisCluster(t)
		nodes := make([]string, len(cl.Nodes))
		for i, n := range cl.Nodes {
			nodes[i] = `"` + n.Addr + `"`
		}
		cases = append(cases, struct{ name, policy, where string }{"redis-cluster", "redis-cluster",
			`"redis_timeout":5000,"redis_cluster_name":"test","redis_cluster_nodes":[` + strings.Join(nodes, ",") + `]`})
	}
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			const n, sent = 300, 1000
			conf := redisConf(tt.policy, tt.where, n, `,"key":"all","key_type":"constant"`)
			a := compile(t, Plugin, conf, &plugin.Env{Key: "/apisix/routes/shared-" + tt.name, Store: &plugin.Store{}})
			b := compile(t, Plugin, conf, &plugin.Env{Key: "/apisix/routes/shared-" + tt.name, Store: &plugin.Store{}})
			if a.back.(*redisBackend).cli == b.back.(*redisBackend).cli {
				t.Fatal("the two instances share a client")
			}
			var ok, rejected atomic.Int64
			var wg sync.WaitGroup
			for w := range 8 {
				c := a
				if w%2 == 1 {
					c = b
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := request("10.0.0.1", nil)
					for range sent / 8 {
						switch rep := c.Access(r); rep.Status {
						case 0:
							ok.Add(1)
						case 503:
							rejected.Add(1)
						default:
							t.Errorf("status %d %q", rep.Status, rep.Body)
						}
					}
				}()
			}
			wg.Wait()
			if ok.Load() != n || rejected.Load() != sent-n {
				t.Fatalf("%d admitted, %d rejected; want %d, %d", ok.Load(), rejected.Load(), n, sent-n)
			}
			// Keys of many clients spread over the cluster's slots, counted apart.
			for i := range 20 {
				r := request(fmt.Sprintf("10.0.1.%d", i), nil)
				c := compile(t, Plugin, redisConf(tt.policy, tt.where, 1, ""), &plugin.Env{Key: "/apisix/routes/spread-" + tt.name})
				if st, _ := hit(c, r); st != 200 {
					t.Fatalf("client %d: first request %d", i, st)
				}
				if st, _ := hit(c, r); st != 503 {
					t.Fatalf("client %d: second request %d", i, st)
				}
			}
		})
	}
}

// TestRedisDown: Redis stopping mid-run: allow_degradation lets requests through, else 500
// "failed to limit count", as APISIX; a Redis that accepts but never answers holds a request
// no longer than redis_timeout.
func TestRedisDown(t *testing.T) {
	srv := testutil.StartRedis(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	where := fmt.Sprintf(`"redis_host":%q,"redis_port":%s,"redis_timeout":5000`, host, port)
	degrade := compile(t, Plugin, redisConf("redis", where, 1000, `,"allow_degradation":true`), &plugin.Env{Key: "/apisix/routes/d"})
	strict := compile(t, Plugin, redisConf("redis", where, 1000, ""), &plugin.Env{Key: "/apisix/routes/s"})
	r := request("10.0.0.1", nil)
	for _, c := range []*Conf{degrade, strict} {
		if st, q := hit(c, r); st != 200 || q == "" {
			t.Fatalf("Redis up: %d %q", st, q)
		}
	}
	srv.Stop()
	for _, tt := range []struct {
		name   string
		c      *Conf
		status int
		body   string
	}{
		{"allow_degradation", degrade, 200, ""},
		{"no degradation", strict, 500, `{"error_msg":"failed to limit count"}` + "\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for range 3 {
				rep := tt.c.Access(r)
				st := rep.Status
				if st == 0 {
					st = 200
				}
				if st != tt.status || string(rep.Body) != tt.body {
					t.Fatalf("Redis down: %d %q, want %d %q", st, rep.Body, tt.status, tt.body)
				}
			}
		})
	}

	t.Run("a Redis that never answers", func(t *testing.T) {
		ln := testutil.Listen(t)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				t.Cleanup(func() { _ = c.Close() })
			}
		}()
		h, p, _ := net.SplitHostPort(ln.Addr().String())
		c := compile(t, Plugin, redisConf("redis", fmt.Sprintf(`"redis_host":%q,"redis_port":%s,"redis_timeout":200`, h, p), 10, ""), &plugin.Env{Key: "/apisix/routes/h"})
		start := time.Now()
		rep := c.Access(r)
		// redis_timeout plus slack for a loaded machine (unbounded, it would hang until the test ends).
		if took := time.Since(start); rep.Status != 500 || took > 1500*time.Millisecond {
			t.Fatalf("%d after %v, want 500 after about redis_timeout (200ms)", rep.Status, took)
		}
	})
}

// TestRedisRules: rules on Redis: each rule counts under its own key and limit, in one round
// trip per rule.
func TestRedisRules(t *testing.T) {
	srv := testutil.StartRedis(t)
	host, port, _ := net.SplitHostPort(srv.Addr)
	c := compile(t, Plugin, fmt.Sprintf(`{"rules":[{"count":2,"time_window":60,"key":"ip-$remote_addr"},`+
		`{"count":1,"time_window":30,"key":"user-$http_x_user"}],"policy":"redis","redis_host":%q,"redis_port":%s}`, host, port),
		&plugin.Env{Key: "/apisix/routes/1"})
	for i, tt := range []struct {
		user   string
		status int
		limit1 string
		limit2 string
	}{{"", 200, "2", ""}, {"alice", 200, "2", "1"}, {"bob", 503, "2", ""}} {
		vs := vars{}
		if tt.user != "" {
			vs["http_x_user"] = tt.user
		}
		r := request("10.0.0.1", vs)
		rep := c.Access(r)
		end(r)
		st := rep.Status
		if st == 0 {
			st = 200
		}
		h := &r.Ctx.Response.Header
		if st != tt.status || string(h.Peek("X-1-RateLimit-Limit")) != tt.limit1 || string(h.Peek("X-2-RateLimit-Limit")) != tt.limit2 {
			t.Errorf("request %d: %d, headers %s", i, st, h.String())
		}
	}
	for _, k := range []string{"plugin-limit-count:v1:/apisix/routes/1:*:ip-10.0.0.1", "plugin-limit-count:v1:/apisix/routes/1:*:user-alice"} {
		if n, err := srv.Do("KEYS", k); n != "*1" || err != nil {
			t.Errorf("KEYS %s: %q %v, want one key", k, n, err)
		}
	}
}
