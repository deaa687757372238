package harness

import (
	"slices"
	"testing"
	"time"
)

// h2load 1.52's summaries (Debian 12's nghttp2-client).
const (
	h2loadOK = `starting benchmark...
Application protocol: h2
Stopped all clients for thread #0

finished in 1.00s, 24453.00 req/s, 645.01KB/s
requests: 24453 total, 24473 started, 24453 done, 24453 succeeded, 0 failed, 0 errored, 0 timeout
status codes: 24453 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 645.01KB (660487) total, 95.65KB (97946) headers (space savings 95.78%), 119.40KB (122265) data
                     min         max         mean         sd        +/- sd
time for request:       20us     79.01ms       789us      3.13ms    96.41%
time for connect:     9.54ms     10.45ms      9.99ms       640us   100.00%
`
	h2load5xx = `finished in 2.79ms, 7181.33 req/s, 227.57KB/s
requests: 20 total, 20 started, 20 done, 0 succeeded, 20 failed, 3 errored, 1 timeout
status codes: 0 2xx, 0 3xx, 4 4xx, 16 5xx
`
)

func TestParseH2load(t *testing.T) {
	tests := []struct {
		name, out string
		want      WrkResult
		wantErr   bool
	}{
		{name: "ok", out: h2loadOK, want: WrkResult{DurationUS: 1e6, Requests: 24453,
			Latency: Latency{Min: 20, Max: 79010, Mean: 789, Stdev: 3130}}},
		{name: "errors", out: h2load5xx, want: WrkResult{DurationUS: 2790,
			Errors: WrkErrors{Read: 3, Status: 20, Timeout: 1}}},
		{name: "no summary", out: "connect failed\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseH2load([]byte(tt.out))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parsed %+v", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

func TestH2loadArgs(t *testing.T) {
	w := h2loadRun{bin: "h2load", pin: []string{"taskset", "-c", "1"}, conns: 16, duration: 10 * time.Second,
		headers: []string{"apikey: k"}, url: "https://127.0.0.1:8443/bench"}
	want := []string{"taskset", "-c", "1", "h2load", "-t", "1", "-c", "16", "-m", "10", "-D", "10", "-T", "5",
		"-H", "apikey: k", "https://127.0.0.1:8443/bench"}
	if got := w.args(); !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
}

func TestTLSloadArgs(t *testing.T) {
	w := tlsloadRun{bin: "tlsload", pin: []string{"taskset", "-c", "1"}, conns: 64, duration: 10 * time.Second,
		headers: []string{"Connection: close"}, url: "https://127.0.0.1:8443/bench", resume: true}
	want := []string{"taskset", "-c", "1", "tlsload", "-c", "64", "-d", "10s", "-resume", "-H", "Connection: close",
		"https://127.0.0.1:8443/bench"}
	if got := w.args(); !slices.Equal(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}
}
