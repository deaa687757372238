package harness

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/zoneproxy/zoneproxy/proxy/snapshot"
	"github.com/zoneproxy/zoneproxy/upstream"
)

// TestPluginScenariosAreValid: the objects the plugin scenarios put pass the data plane's own
// validation, so that a zoneproxy row never measures a rejected route (a 404).
func TestPluginScenariosAreValid(t *testing.T) {
	for _, name := range []string{"keyauth", "jwtauth", "plugins", "limitcount", "limitredis", "rewrite"} {
		s, _ := scenarioByName(name)
		if len(s.Objects()) == 0 && (name == "keyauth" || name == "jwtauth" || name == "plugins") {
			t.Errorf("%s: no consumer", name)
		}
		if !s.VsPlain {
			t.Errorf("%s: not compared with the plain route", name)
		}
		routes := s.Routes()
		if s.redisRoutes != nil {
			routes = append(routes, s.redisRoutes(41234)...)
		}
		for k, v := range s.Objects() {
			if err := snapshot.Check(snapshot.Options{}, "/apisix"+k, []byte(v)); err != nil {
				t.Errorf("%s: %s: %v", name, k, err)
			}
		}
		for _, r := range routes {
			if r.Plugins == nil {
				t.Errorf("%s: route %s has no plugin", name, r.ID)
			}
			if err := snapshot.Check(snapshot.Options{}, "/apisix/routes/"+r.ID, r.JSON("")); err != nil {
				t.Errorf("%s: route %s: %v", name, r.ID, err)
			}
		}
	}
}

func TestScenarios(t *testing.T) {
	tests := []struct {
		name   string
		routes int
		churn  bool
	}{
		{"1route", 1, false}, {"10k", 10000, false}, {"c1000", 1, false}, {"2workers", 1, false}, {"1k", 1, false}, {"64k", 1, false},
		{"close", 1, false}, {"vars", 1, false}, {"keyauth", 1, false}, {"jwtauth", 1, false}, {"plugins", 1, false},
		{"limitcount", 1, false}, {"limitredis", 1, false}, {"rewrite", 1, false},
		{"idle10k", 1, false}, {"idle10k-tls", 1, false}, {"https", 1, false}, {"ssl10k", 1, false}, {"hs-ecdsa", 1, false}, {"hs-rsa", 1, false}, {"hs-resume", 1, false}, {"h2", 1, false},
		{"churn", 1 + churnRoutes, true}, {"churn10k", 10000 + churnRoutes, true},
	}
	if got := strings.Join(ScenarioNames(), ","); got != "1route,10k,c1000,2workers,1k,64k,close,vars,keyauth,jwtauth,plugins,limitcount,limitredis,rewrite,idle10k,idle10k-tls,https,ssl10k,hs-ecdsa,hs-rsa,hs-resume,h2,churn,churn10k" {
		t.Fatalf("names %s", got)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := scenarioByName(tt.name)
			if !ok {
				t.Fatal("unknown")
			}
			routes := s.Routes()
			if len(routes) != tt.routes || s.Churn != tt.churn {
				t.Fatalf("%d routes churn %v, want %d %v", len(routes), s.Churn, tt.routes, tt.churn)
			}
			ids, uris := map[string]bool{}, map[string]bool{}
			matched := 0
			for _, r := range routes {
				if ids[r.ID] || uris[r.URI] {
					t.Fatalf("duplicate route %+v", r)
				}
				ids[r.ID], uris[r.URI] = true, true
				if r.URI == s.Path || (strings.HasSuffix(r.URI, "*") && strings.HasPrefix(s.Path, strings.TrimSuffix(r.URI, "*"))) {
					matched++
				}
			}
			if matched != 1 {
				t.Fatalf("%d routes match the request path %s, want 1", matched, s.Path)
			}
		})
	}
	t.Run("10k: the request matches the last route", func(t *testing.T) {
		s, _ := scenarioByName("10k")
		rs := s.Routes()
		if last := rs[len(rs)-1]; !strings.HasPrefix(s.Path, strings.TrimSuffix(last.URI, "*")) {
			t.Fatalf("last route %s does not match %s", last.URI, s.Path)
		}
	})
}

func TestRouteJSON(t *testing.T) {
	tests := []struct {
		name string
		r    Route
		desc string
		want string
	}{
		{"plain", Route{ID: "bench", URI: "/bench"}, "", `{"name":"bench","upstream_id":"1","uri":"/bench"}`},
		{"desc", Route{ID: "churn-001", URI: "/churn/001"}, "update 7",
			`{"desc":"update 7","name":"churn-001","upstream_id":"1","uri":"/churn/001"}`},
		{"vars", Route{ID: "a", URI: "/a", Header: &HeaderMatch{Name: "X-Api-Key", Value: "k"}}, "",
			`{"name":"a","upstream_id":"1","uri":"/a","vars":[["http_x_api_key","==","k"]]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(tt.r.JSON(tt.desc)); got != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	t.Run("upstream", func(t *testing.T) {
		var v struct {
			Type  string         `json:"type"`
			Nodes map[string]int `json:"nodes"`
		}
		if err := json.Unmarshal(UpstreamJSON("127.0.0.1:9"), &v); err != nil || v.Type != "roundrobin" || v.Nodes["127.0.0.1:9"] != 1 {
			t.Fatalf("upstream %+v, %v", v, err)
		}
		// zoneproxy reads it with nginx's keep-alive settings of the bench.
		spec, err := upstream.Parse(UpstreamJSON("127.0.0.1:9"))
		if err != nil {
			t.Fatal(err)
		}
		if kp := spec.KeepalivePool; kp.Size != 320 || kp.Requests != 1000000 {
			t.Errorf("keepalive_pool %+v, want size 320 and 1000000 requests (nginx.go)", kp)
		}
	})
}

// TestScenarioLoadAndCPUs: a scenario's own connection count and worker count decide the load's
// connections, the servers' CPUs and GOMAXPROCS, and nginx's worker_processes.
func TestScenarioLoadAndCPUs(t *testing.T) {
	h := &harness{o: Options{Conns: 64, ProxyCPU: "0", LoadCPU: "1"}}
	one, _ := scenarioByName("1route")
	c1000, _ := scenarioByName("c1000")
	two, _ := scenarioByName("2workers")
	if got := h.conns(one); got != 64 {
		t.Errorf("1route conns %d, want Options.Conns 64", got)
	}
	if got := h.conns(c1000); got != 1000 {
		t.Errorf("c1000 conns %d, want 1000", got)
	}
	if got, load := h.serverCPUs(one), h.loadCPUs(one); got != "0" || load != "1" {
		t.Errorf("1route on CPUs %q, load on %q, want 0 and 1", got, load)
	}
	if got, load := h.serverCPUs(two), h.loadCPUs(two); got != "0,1" || load != "0,1" {
		t.Errorf("2workers on CPUs %q, load on %q, want both on 0,1", got, load)
	}
	if got := strings.Join(goEnv(two), " "); got != "GOMAXPROCS=2" {
		t.Errorf("2workers env %q", got)
	}
	if got := strings.Join(goEnv(one), " "); got != "GOMAXPROCS=1" {
		t.Errorf("1route env %q", got)
	}
	conf := nginxConf{dir: "/tmp/x", port: 1, upstream: "127.0.0.1:2", workers: two.workers()}.String()
	if !strings.Contains(conf, "worker_processes 2;") {
		t.Errorf("nginx conf without worker_processes 2:\n%s", conf)
	}
	if conf := (nginxConf{dir: "/tmp/x", port: 1, upstream: "127.0.0.1:2"}).String(); !strings.Contains(conf, "worker_processes 1;") {
		t.Errorf("nginx conf without worker_processes 1:\n%s", conf)
	}
}
