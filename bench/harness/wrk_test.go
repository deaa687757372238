package harness

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseWrk(t *testing.T) {
	const good = `ZPBENCH {"duration_us":10000000,"requests":500000,"bytes":70000000,` +
		`"errors":{"connect":0,"read":1,"write":0,"status":2,"timeout":0},` +
		`"latency_us":{"min":50,"mean":900.5,"stdev":100.2,"max":20000,"p50":800,"p90":1200,"p99":3000,"p999":9000}}`
	tests := []struct {
		name    string
		out     string
		wantErr bool
		rps     float64
		p99     float64
		errs    int64
	}{
		{"alone", good, false, 50000, 3000, 3},
		{"after wrk's own output", "Running 10s test @ http://127.0.0.1:1/\n  1 threads and 64 connections\n" + good + "\n", false, 50000, 3000, 3},
		{"missing", "Running 10s test\nRequests/sec: 1\n", true, 0, 0, 0},
		{"bad json", "ZPBENCH {\"duration_us\":", true, 0, 0, 0},
		{"zero duration", `ZPBENCH {"duration_us":0,"requests":1}`, true, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseWrk([]byte(tt.out))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if tt.name == "missing" && !errors.Is(err, errNoWrkResult) {
					t.Fatalf("err = %v, want errNoWrkResult", err)
				}
				return
			}
			if r.RPS() != tt.rps || r.Latency.P99 != tt.p99 || r.Errors.Total() != tt.errs {
				t.Fatalf("rps %v p99 %v errors %d; want %v %v %d", r.RPS(), r.Latency.P99, r.Errors.Total(), tt.rps, tt.p99, tt.errs)
			}
		})
	}
}

func TestWrkArgs(t *testing.T) {
	tests := []struct {
		name string
		w    wrkRun
		want []string
	}{
		{"pinned with headers",
			wrkRun{bin: "wrk", pin: []string{"taskset", "-c", "1"}, script: "s.lua", threads: 1, conns: 64,
				duration: 10 * time.Second, headers: []string{"Connection: close"}, url: "http://127.0.0.1:1/bench"},
			[]string{"taskset", "-c", "1", "wrk", "-t", "1", "-c", "64", "-d", "10s", "--timeout", "5s", "-s", "s.lua",
				"-H", "Connection: close", "http://127.0.0.1:1/bench"}},
		{"unpinned, short duration rounds up to 1s",
			wrkRun{bin: "wrk", script: "s.lua", threads: 2, conns: 8, duration: 100 * time.Millisecond, url: "http://x/"},
			[]string{"wrk", "-t", "2", "-c", "8", "-d", "1s", "--timeout", "5s", "-s", "s.lua", "http://x/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.w.args(); !slices.Equal(got, tt.want) {
				t.Fatalf("args\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestWrkScript(t *testing.T) {
	for _, want := range []string{"done = function(summary, latency, requests)", wrkMarker, "percentile(99)", "errors"} {
		t.Run(want, func(t *testing.T) {
			if !strings.Contains(string(wrkScript), want) {
				t.Fatalf("wrk.lua lacks %q", want)
			}
		})
	}
}
