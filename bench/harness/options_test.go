package harness

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
		check   func(Options) bool
	}{
		{"defaults", nil, "", func(o Options) bool {
			return o.Duration == 10*time.Second && o.Warmup == 3*time.Second && o.Runs == 3 && o.Conns == 64 &&
				o.Threads == 1 && len(o.Scenarios) == len(ScenarioNames()) && len(o.Targets) == 4 && o.wants(TargetBare) && o.Nice == -10 &&
				o.ProxyCPU == "0" && o.LoadCPU == "1" && o.ChurnRate == 100 && !o.NginxDeferred && !o.Symbols
		}},
		{"symbols for perf", map[string]string{"BENCH_SYMBOLS": "1"}, "", func(o Options) bool { return o.Symbols }},
		{"nginx deferred", map[string]string{"BENCH_NGINX_DEFERRED": "1"}, "", func(o Options) bool { return o.NginxDeferred }},
		{"quick run", map[string]string{"BENCH_DURATION": "3s", "BENCH_SCENARIOS": "1route, churn", "BENCH_WARMUP": "0s", "BENCH_NICE": "0"}, "",
			func(o Options) bool {
				return o.Duration == 3*time.Second && o.Warmup == 0 && strings.Join(o.Scenarios, ",") == "1route,churn" && o.Nice == 0
			}},
		{"targets", map[string]string{"BENCH_TARGETS": "zoneproxy"}, "", func(o Options) bool {
			return o.wants(TargetZoneproxy) && !o.wants(TargetNginx)
		}},
		{"the event-loop forwarder", map[string]string{"BENCH_TARGETS": "nginx,bare,loop,zoneproxy"}, "", func(o Options) bool {
			return o.wants(TargetLoop) && o.wants(TargetBare) && !o.wants(TargetUpstream)
		}},
		{"bad duration", map[string]string{"BENCH_DURATION": "ten"}, "BENCH_DURATION", nil},
		{"too short", map[string]string{"BENCH_DURATION": "500ms"}, "shorter than 1s", nil},
		{"bad runs", map[string]string{"BENCH_RUNS": "0"}, "BENCH_RUNS", nil},
		{"unknown scenario", map[string]string{"BENCH_SCENARIOS": "1route,nope"}, `"nope"`, nil},
		{"unknown target", map[string]string{"BENCH_TARGETS": "haproxy"}, `"haproxy"`, nil},
		{"nice out of range", map[string]string{"BENCH_NICE": "-40"}, "nice", nil},
		{"more threads than conns", map[string]string{"BENCH_THREADS": "4", "BENCH_CONNS": "2"}, "threads", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := FromEnv(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Fatalf("options %+v", o)
			}
		})
	}
}
