package upstream

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseDefaults(t *testing.T) {
	s := mustParse(t, `{"nodes":{"127.0.0.1:1980":1}}`)
	want := &Spec{
		Type: RoundRobin, Scheme: "http", PassHost: "pass", HashOn: "vars",
		Nodes:         []NodeSpec{{Host: "127.0.0.1", Port: 1980, Weight: 1}},
		KeepalivePool: KeepalivePool{Size: 320, IdleTimeout: 60, Requests: 1000},
	}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("Parse defaults:\n got %+v\nwant %+v", s, want)
	}
	if got := s.EffectiveRetries(); got != 0 {
		t.Errorf("EffectiveRetries = %d, want 0 for one node", got)
	}
}

func TestParseFields(t *testing.T) {
	tests := []struct {
		name  string
		json  string
		check func(t *testing.T, s *Spec)
	}{
		{"integer id", `{"id":7,"nodes":{}}`, func(t *testing.T, s *Spec) {
			if s.ID != "7" {
				t.Errorf("ID = %q", s.ID)
			}
		}},
		{"string id and metadata", `{"id":"up-1","name":"n","desc":"d","labels":{"env":"prod"},"create_time":1,"update_time":2,"nodes":{}}`,
			func(t *testing.T, s *Spec) {
				if s.ID != "up-1" || s.Name != "n" || s.Desc != "d" || s.Labels["env"] != "prod" || s.CreateTime != 1 || s.UpdateTime != 2 {
					t.Errorf("metadata = %+v", s)
				}
			}},
		{"retries set, retry_timeout, timeout", `{"nodes":{"a:1":1,"b:1":1,"c:1":1},"retries":0,"retry_timeout":2.5,"timeout":{"connect":1,"send":2,"read":3.5}}`,
			func(t *testing.T, s *Spec) {
				if s.Retries == nil || *s.Retries != 0 || s.EffectiveRetries() != 0 {
					t.Errorf("Retries = %v", s.Retries)
				}
				if s.RetryTimeout != 2.5 || *s.Timeout != (Timeout{1, 2, 3.5}) {
					t.Errorf("timeouts = %v %+v", s.RetryTimeout, s.Timeout)
				}
			}},
		{"retries unset defaults to nodes-1", `{"nodes":{"a:1":1,"b:1":1,"c:1":1}}`, func(t *testing.T, s *Spec) {
			if s.Retries != nil || s.EffectiveRetries() != 2 {
				t.Errorf("Retries = %v, effective %d", s.Retries, s.EffectiveRetries())
			}
		}},
		{"keepalive_pool partial", `{"nodes":{},"keepalive_pool":{"size":10}}`, func(t *testing.T, s *Spec) {
			if s.KeepalivePool != (KeepalivePool{10, 60, 1000}) {
				t.Errorf("KeepalivePool = %+v", s.KeepalivePool)
			}
		}},
		{"https scheme, rewrite host, tls", `{"nodes":{"a":1},"scheme":"https","pass_host":"rewrite","upstream_host":"x.test","tls":{"verify":true}}`,
			func(t *testing.T, s *Spec) {
				if s.Scheme != "https" || s.PassHost != "rewrite" || s.UpstreamHost != "x.test" || !s.TLS.Verify {
					t.Errorf("spec = %+v tls %+v", s, s.TLS)
				}
				if s.Nodes[0].Port != 443 {
					t.Errorf("https default port = %d", s.Nodes[0].Port)
				}
			}},
		{"chash on header", `{"type":"chash","hash_on":"header","key":"X-Session","nodes":{}}`, func(t *testing.T, s *Spec) {
			if s.Type != CHash || s.HashOn != "header" || s.Key != "X-Session" {
				t.Errorf("spec = %+v", s)
			}
		}},
		{"chash on consumer needs no key", `{"type":"chash","hash_on":"consumer","nodes":{}}`, func(t *testing.T, s *Spec) {
			if s.HashOn != "consumer" {
				t.Errorf("HashOn = %q", s.HashOn)
			}
		}},
		{"chash on vars_combinations", `{"type":"chash","hash_on":"vars_combinations","key":"$remote_addr-$http_x","nodes":{}}`, func(t *testing.T, s *Spec) {
			if s.Key != "$remote_addr-$http_x" {
				t.Errorf("Key = %q", s.Key)
			}
		}},
		{"hash_on ignored for roundrobin", `{"hash_on":"header","key":"bad key!","nodes":{}}`, func(t *testing.T, s *Spec) {
			if s.Key != "bad key!" {
				t.Errorf("Key = %q", s.Key)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustParse(t, tt.json)) })
	}
}

func TestParseNodeForms(t *testing.T) {
	tests := []struct {
		name string
		json string
		want []NodeSpec
	}{
		{"map form keeps document order", `{"nodes":{"c:1":5,"a:2":1,"b":1}}`,
			[]NodeSpec{{"c", 1, 5, 0}, {"a", 2, 1, 0}, {"b", 80, 1, 0}}},
		{"array form with priority", `{"nodes":[{"host":"a","port":81,"weight":2,"priority":-1},{"host":"b","weight":0,"metadata":{"x":1}}]}`,
			[]NodeSpec{{"a", 81, 2, -1}, {"b", 80, 0, 0}}},
		{"https default port in both forms", `{"scheme":"https","nodes":[{"host":"a","weight":1}]}`,
			[]NodeSpec{{"a", 443, 1, 0}}},
		{"ipv6 map keys", `{"nodes":{"[::1]:8080":1,"[::2]":1,"::3":1}}`,
			[]NodeSpec{{"[::1]", 8080, 1, 0}, {"[::2]", 80, 1, 0}, {"[::3]", 80, 1, 0}}},
		{"bare ipv6 host in array form is bracketed", `{"nodes":[{"host":"::1","port":1,"weight":1}]}`,
			[]NodeSpec{{"[::1]", 1, 1, 0}}},
		{"float weight with integral value", `{"nodes":{"a:1":2.0}}`, []NodeSpec{{"a", 1, 2, 0}}},
		{"repeated address keeps first place, last values", `{"nodes":[{"host":"a","port":1,"weight":1},{"host":"b","port":1,"weight":1},{"host":"a","port":1,"weight":7,"priority":2}]}`,
			[]NodeSpec{{"a", 1, 7, 2}, {"b", 1, 1, 0}}},
		// Both empty forms give the same Spec, whose JSON lists no nodes ("nodes":[], not null).
		{"empty object", `{"nodes":{}}`, []NodeSpec{}},
		{"empty array", `{"nodes":[]}`, []NodeSpec{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustParse(t, tt.json).Nodes
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("nodes = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseChecksDefaults(t *testing.T) {
	s := mustParse(t, `{"nodes":{},"checks":{"active":{},"passive":{}}}`)
	a := s.Checks.Active
	wantA := &ActiveCheck{Type: "http", Timeout: 1, Concurrency: 10, HTTPMethod: "GET", HTTPPath: "/",
		HTTPSVerifyCertificate: true,
		Healthy:                ActiveHealthy{Interval: 1, HTTPStatuses: []int{200, 302}, Successes: 2},
		Unhealthy: ActiveUnhealthy{Interval: 1, HTTPStatuses: []int{429, 404, 500, 501, 502, 503, 504, 505},
			HTTPFailures: 5, TCPFailures: 2, Timeouts: 3}}
	if !reflect.DeepEqual(a, wantA) {
		t.Errorf("active defaults:\n got %+v\nwant %+v", a, wantA)
	}
	p := s.Checks.Passive
	wantP := defaultPassive()
	if !reflect.DeepEqual(*p, wantP) {
		t.Errorf("passive defaults:\n got %+v\nwant %+v", p, wantP)
	}
	s2 := mustParse(t, `{"nodes":{},"checks":{"active":{"type":"tcp","timeout":0.5,"concurrency":0,"host":"h.test","port":8080,
		"http_path":"/status","req_headers":["A: b"],"https_verify_certificate":false,"http_method":"HEAD","http_req_body":"x",
		"healthy":{"interval":3,"http_statuses":[200],"successes":1},
		"unhealthy":{"interval":4,"http_statuses":[500],"http_failures":1,"tcp_failures":3,"timeouts":4}},
		"passive":{"type":"tcp","healthy":{"successes":0},"unhealthy":{"http_statuses":[502],"http_failures":0}}}}`)
	a2, p2 := s2.Checks.Active, s2.Checks.Passive
	if a2.Type != "tcp" || a2.Timeout != 0.5 || a2.Concurrency != 1 || a2.Host != "h.test" || a2.Port != 8080 ||
		a2.HTTPPath != "/status" || a2.ReqHeaders[0] != "A: b" || a2.HTTPSVerifyCertificate || a2.HTTPMethod != "HEAD" || a2.HTTPReqBody != "x" {
		t.Errorf("active = %+v", a2)
	}
	if a2.Healthy.Interval != 3 || a2.Unhealthy.Interval != 4 || a2.Unhealthy.TCPFailures != 3 || a2.Unhealthy.Timeouts != 4 || a2.Unhealthy.HTTPFailures != 1 {
		t.Errorf("active thresholds = %+v %+v", a2.Healthy, a2.Unhealthy)
	}
	if p2.Type != "tcp" || p2.Healthy.Successes != 0 || p2.Unhealthy.HTTPFailures != 0 || !reflect.DeepEqual(p2.Unhealthy.HTTPStatuses, []int{502}) ||
		p2.Unhealthy.TCPFailures != 2 || len(p2.Healthy.HTTPStatuses) != 19 {
		t.Errorf("passive = %+v", p2)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, json, field string
		sentinel          error
	}{
		{"not an object", `[1]`, "upstream", ErrInvalid},
		{"bad json", `{"nodes":`, "upstream", ErrInvalid},
		{"unknown top-level field", `{"nodes":{},"foo":1}`, "foo", ErrInvalid},
		{"no nodes", `{}`, "nodes", ErrInvalid},
		{"nodes wrong type", `{"nodes":"a:1"}`, "nodes", ErrInvalid},
		{"negative weight", `{"nodes":{"a:1":-1}}`, "nodes", ErrInvalid},
		{"fractional weight", `{"nodes":{"a:1":1.5}}`, "nodes", ErrInvalid},
		{"string weight", `{"nodes":{"a:1":"1"}}`, "nodes", ErrInvalid},
		{"bad port", `{"nodes":{"a:70000":1}}`, "nodes", ErrInvalid},
		{"non-numeric port", `{"nodes":{"a:x":1}}`, "nodes", ErrInvalid},
		{"bad host", `{"nodes":{"a b:80":1}}`, "nodes", ErrInvalid},
		{"array node without host", `{"nodes":[{"weight":1}]}`, "nodes[0].host", ErrInvalid},
		{"array node without weight", `{"nodes":[{"host":"a"}]}`, "nodes[0].weight", ErrInvalid},
		{"array node bad port", `{"nodes":[{"host":"a","weight":1,"port":0}]}`, "nodes[0].port", ErrInvalid},
		{"array node wildcard host", `{"nodes":[{"host":"*","weight":1}]}`, "nodes[0].host", ErrInvalid},
		{"unknown type", `{"type":"random","nodes":{}}`, "type", ErrInvalid},
		{"grpc scheme", `{"scheme":"grpc","nodes":{}}`, "scheme", ErrUnsupported},
		{"bad scheme", `{"scheme":"ftp","nodes":{}}`, "scheme", ErrInvalid},
		{"discovery", `{"service_name":"s","discovery_type":"dns"}`, "discovery_type", ErrUnsupported},
		{"bad pass_host", `{"pass_host":"keep","nodes":{}}`, "pass_host", ErrInvalid},
		{"rewrite without upstream_host", `{"pass_host":"rewrite","nodes":{}}`, "upstream_host", ErrInvalid},
		{"negative retries", `{"retries":-1,"nodes":{}}`, "retries", ErrInvalid},
		{"null retries", `{"retries":null,"nodes":{}}`, "retries", ErrInvalid},
		{"negative retry_timeout", `{"retry_timeout":-1,"nodes":{}}`, "retry_timeout", ErrInvalid},
		{"timeout missing read", `{"timeout":{"connect":1,"send":1},"nodes":{}}`, "timeout.read", ErrInvalid},
		{"timeout zero", `{"timeout":{"connect":0,"send":1,"read":1},"nodes":{}}`, "timeout.connect", ErrInvalid},
		{"keepalive size 0", `{"keepalive_pool":{"size":0},"nodes":{}}`, "keepalive_pool.size", ErrInvalid},
		{"keepalive idle negative", `{"keepalive_pool":{"idle_timeout":-1},"nodes":{}}`, "keepalive_pool.idle_timeout", ErrInvalid},
		{"bad id", `{"id":"a/b","nodes":{}}`, "id", ErrInvalid},
		{"zero id", `{"id":0,"nodes":{}}`, "id", ErrInvalid},
		{"empty name", `{"name":"","nodes":{}}`, "name", ErrInvalid},
		{"label with space", `{"labels":{"a":"b c"},"nodes":{}}`, "labels.a", ErrInvalid},
		{"bad hash_on", `{"hash_on":"uri","nodes":{}}`, "hash_on", ErrInvalid},
		{"chash without key", `{"type":"chash","nodes":{}}`, "key", ErrInvalid},
		{"chash header key with space", `{"type":"chash","hash_on":"header","key":"a b","nodes":{}}`, "key", ErrInvalid},
		{"chash vars key not allowed", `{"type":"chash","hash_on":"vars","key":"http_x","nodes":{}}`, "key", ErrInvalid},
		{"checks without active", `{"checks":{"passive":{}},"nodes":{}}`, "checks.active", ErrInvalid},
		{"active bad type", `{"checks":{"active":{"type":"udp"}},"nodes":{}}`, "checks.active.type", ErrInvalid},
		{"active bad port", `{"checks":{"active":{"port":0}},"nodes":{}}`, "checks.active.port", ErrInvalid},
		{"active zero timeout", `{"checks":{"active":{"timeout":0}},"nodes":{}}`, "checks.active.timeout", ErrInvalid},
		{"active interval 0", `{"checks":{"active":{"healthy":{"interval":0}}},"nodes":{}}`, "checks.active.healthy.interval", ErrInvalid},
		{"active successes 255", `{"checks":{"active":{"healthy":{"successes":255}}},"nodes":{}}`, "checks.active.healthy.successes", ErrInvalid},
		{"active status out of range", `{"checks":{"active":{"unhealthy":{"http_statuses":[600]}}},"nodes":{}}`, "checks.active.unhealthy.http_statuses", ErrInvalid},
		{"active statuses empty", `{"checks":{"active":{"healthy":{"http_statuses":[]}}},"nodes":{}}`, "checks.active.healthy.http_statuses", ErrInvalid},
		{"active statuses repeated", `{"checks":{"active":{"healthy":{"http_statuses":[200,200]}}},"nodes":{}}`, "checks.active.healthy.http_statuses", ErrInvalid},
		{"active tcp_failures 0", `{"checks":{"active":{"unhealthy":{"tcp_failures":0}}},"nodes":{}}`, "checks.active.unhealthy.tcp_failures", ErrInvalid},
		{"active header with newline", `{"checks":{"active":{"req_headers":["A: b\r\nC: d"]}},"nodes":{}}`, "checks.active.req_headers", ErrInvalid},
		{"active bad method", `{"checks":{"active":{"http_method":"FETCH"}},"nodes":{}}`, "checks.active.http_method", ErrInvalid},
		{"passive negative", `{"checks":{"active":{},"passive":{"unhealthy":{"timeouts":-1}}},"nodes":{}}`, "checks.passive.unhealthy.timeouts", ErrInvalid},
		{"tls cert without key", `{"tls":{"client_cert":"` + strings.Repeat("c", 128) + `"},"nodes":{}}`, "tls.client_key", ErrInvalid},
		{"tls cert too short", `{"tls":{"client_cert":"c","client_key":"k"},"nodes":{}}`, "tls.client_cert", ErrInvalid},
		{"tls verify not bool", `{"tls":{"verify":"yes"},"nodes":{}}`, "tls.verify", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Parse(%s) = %v, want a *FieldError", tt.json, err)
			}
			if fe.Field != tt.field {
				t.Errorf("field = %q (%v), want %q", fe.Field, err, tt.field)
			}
			if !errors.Is(err, tt.sentinel) {
				t.Errorf("error %v is not %v", err, tt.sentinel)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("message %q does not start with the field", err)
			}
		})
	}
}

func TestParseWeightMessage(t *testing.T) {
	_, err := Parse([]byte(`{"nodes":{"127.0.0.1:80":-3}}`))
	if want := `nodes: "127.0.0.1:80" weight must be >= 0`; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

// TestSpecJSONRoundTrip: a Spec marshals to an upstream object that Parse reads back to the same
// Spec (FuzzParse checks it for any input); these are the cases that once did not.
func TestSpecJSONRoundTrip(t *testing.T) {
	for _, doc := range []string{
		`{"nodes":{}}`,
		`{"nodes":{},"labels":{}}`,
		`{"nodes":{"a:1":1},"type":"chash","hash_on":"vars_combinations","key":""}`,
		`{"nodes":{"a:1":1},"type":"chash","hash_on":"consumer"}`,
	} {
		s := mustParse(t, doc)
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil || !reflect.DeepEqual(s, again) {
			t.Errorf("%s: marshalled to %s, which parses to %+v, %v", doc, out, again, err)
		}
	}
}
