package limitreq

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
		{"redis", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","redis_port":6380,"redis_timeout":200}`, ""},
		{"cluster", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis-cluster","redis_cluster_nodes":["127.0.0.1:7000"],"redis_cluster_name":"c"}`, ""},
		{"no host", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis"}`, `property "redis_host" is required`},
		{"short host", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis","redis_host":"a"}`, `property "redis_host" validation failed: string too short`},
		{"no nodes", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis-cluster","redis_cluster_name":"c"}`, `property "redis_cluster_nodes" is required`},
		{"timeout 0", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","redis_timeout":0}`, `property "redis_timeout" validation failed`},
		{"keepalive", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis","redis_host":"127.0.0.1","redis_keepalive_timeout":999}`, `property "redis_keepalive_timeout" validation failed`},
		{"sentinel", `{"rate":1,"burst":0,"key":"remote_addr","policy":"redis-sentinel"}`, `property "policy" validation failed: matches none of the enum values`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Plugin.Compile([]byte(tt.conf), &plugin.Env{Key: "/apisix/routes/1", Store: &plugin.Store{}})
			if (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

func redisWhere(t *testing.T, srv *testutil.Redis) string {
	host, port, _ := net.SplitHostPort(srv.Addr)
	return fmt.Sprintf(`"policy":"redis","redis_host":%q,"redis_port":%s,"redis_timeout":5000`, host, port)
}

// TestRedisBucket: the leaky bucket in Redis, on an injected clock: burst 1 at rate 1 admits
// two at once (the second with a one-second delay, waited unless nodelay), rejects the third,
// and admits again once the bucket has drained; the state is APISIX's hash under
// limit_req:<object>:<version>:<key>.
func TestRedisBucket(t *testing.T) {
	srv := testutil.StartRedis(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var slept []time.Duration
	var mu sync.Mutex
	p := New(func() time.Time { return now }, func(d time.Duration) { mu.Lock(); slept = append(slept, d); mu.Unlock() })
	inst, err := p.Compile([]byte(`{"rate":1,"burst":1,"key":"remote_addr","rejected_code":429,"rejected_msg":"slow",`+redisWhere(t, srv)+`}`),
		&plugin.Env{Key: "/apisix/routes/1", Store: &plugin.Store{}})
	if err != nil {
		t.Fatal(err)
	}
	c := inst.(*Conf)
	r := request("10.0.0.1")
	for i, want := range []int{0, 0, 429} {
		if rep := c.Access(r); rep.Status != want || (want == 429 && string(rep.Body) != `{"error_msg":"slow"}`+"\n") {
			t.Fatalf("request %d: %d %q, want %d", i, rep.Status, rep.Body, want)
		}
	}
	if len(slept) != 1 || slept[0] != time.Second {
		t.Errorf("delays %v, want [1s]", slept)
	}
	now = now.Add(2 * time.Second)
	if rep := c.Access(r); rep.Status != 0 {
		t.Errorf("after draining: %d", rep.Status)
	}
	if n, err := srv.Do("KEYS", "limit_req:/apisix/routes/1:*:10.0.0.1"); n != "*1" || err != nil {
		t.Errorf("state key: %q %v", n, err)
	}
}

// TestRedisSharedBucket: two instances (two zoneproxy processes: their own Store and client)
// share one bucket exactly: burst+1 admitted of 1,000 sent by both at once.
func TestRedisSharedBucket(t *testing.T) {
	cases := map[string]string{"redis": redisWhere(t, testutil.StartRedis(t))}
	if !testing.Short() {
		cl := testutil.StartRedisCluster(t)
		nodes := make([]string, len(cl.Nodes))
		for i, n := range cl.Nodes {
			nodes[i] = `"` + n.Addr + `"`
		}
		cases["redis-cluster"] = `"policy":"redis-cluster","redis_timeout":5000,"redis_cluster_name":"test","redis_cluster_nodes":[` + strings.Join(nodes, ",") + `]`
	}
	for name, where := range cases {
		t.Run(name, func(t *testing.T) { sharedBucket(t, where) })
	}
}

func sharedBucket(t *testing.T, where string) {
	const burst, sent = 99, 1000
	conf := []byte(fmt.Sprintf(`{"rate":0.001,"burst":%d,"key":"all","key_type":"var_combination","nodelay":true,%s}`, burst, where))
	var insts [2]*Conf
	for i := range insts {
		inst, err := Plugin.Compile(conf, &plugin.Env{Key: "/apisix/routes/shared", Store: &plugin.Store{}})
		if err != nil {
			t.Fatal(err)
		}
		insts[i] = inst.(*Conf)
	}
	var ok, rejected atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := request("10.0.0.1")
			for range sent / 8 {
				switch rep := insts[w%2].Access(r); rep.Status {
				case 0:
					ok.Add(1)
				case 503:
					rejected.Add(1)
				default:
					t.Errorf("status %d", rep.Status)
				}
			}
		}()
	}
	wg.Wait()
	if ok.Load() != burst+1 || rejected.Load() != sent-burst-1 {
		t.Fatalf("%d admitted, %d rejected; want %d, %d", ok.Load(), rejected.Load(), burst+1, sent-burst-1)
	}
}

// TestRedisDown: with Redis gone, allow_degradation lets requests through, else 500.
func TestRedisDown(t *testing.T) {
	srv := testutil.StartRedis(t)
	where := redisWhere(t, srv)
	strict, err := Plugin.Compile([]byte(`{"rate":100,"burst":100,"key":"remote_addr",`+where+`}`), &plugin.Env{Key: "/apisix/routes/s"})
	if err != nil {
		t.Fatal(err)
	}
	degrade, err := Plugin.Compile([]byte(`{"rate":100,"burst":100,"key":"remote_addr","allow_degradation":true,`+where+`}`), &plugin.Env{Key: "/apisix/routes/d"})
	if err != nil {
		t.Fatal(err)
	}
	r := request("10.0.0.1")
	for _, c := range []plugin.Instance{strict, degrade} {
		if rep := c.(*Conf).Access(r); rep.Status != 0 {
			t.Fatalf("Redis up: %d", rep.Status)
		}
	}
	srv.Stop()
	if rep := strict.(*Conf).Access(r); rep.Status != 500 {
		t.Errorf("Redis down: %d, want 500", rep.Status)
	}
	if rep := degrade.(*Conf).Access(r); rep.Status != 0 {
		t.Errorf("Redis down, allow_degradation: %d, want through", rep.Status)
	}
}
