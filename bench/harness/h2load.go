package harness

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// h2loadStreams is the number of concurrent streams per h2load connection (-m).
const h2loadStreams = 10

// h2loadRun is one h2load invocation: HTTP/2 over TLS, h2loadStreams streams per connection.
type h2loadRun struct {
	bin      string   // h2load
	pin      []string // taskset prefix, or nil
	conns    int
	duration time.Duration
	headers  []string
	url      string
	nice     int
}

func (w h2loadRun) args() []string {
	secs := int(w.duration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	a := append([]string{}, w.pin...)
	a = append(a, w.bin, "-t", "1", "-c", strconv.Itoa(w.conns), "-m", strconv.Itoa(h2loadStreams),
		"-D", strconv.Itoa(secs), "-T", "5")
	for _, h := range w.headers {
		a = append(a, "-H", h)
	}
	return append(a, w.url)
}

// run runs h2load to the end and parses its summary.
func (w h2loadRun) run(ctx context.Context) (WrkResult, error) {
	return runLoad(ctx, "h2load", w.url, w.args(), w.duration, w.nice, ParseH2load)
}

var (
	h2loadFinished = regexp.MustCompile(`(?m)^finished in ([0-9.]+)(ms|s),`)
	h2loadRequests = regexp.MustCompile(`(?m)^requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadStatus   = regexp.MustCompile(`(?m)^status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx`)
	h2loadTime     = regexp.MustCompile(`(?m)^time for request:\s+([0-9.]+)(us|ms|s)\s+([0-9.]+)(us|ms|s)\s+([0-9.]+)(us|ms|s)\s+([0-9.]+)(us|ms|s)`)
)

// ParseH2load reads h2load's summary into a WrkResult: requests that succeeded, broken ones as
// read errors, 4xx and 5xx as status errors, and the request time's min, max, mean and deviation
// (h2load prints no percentiles: those stay zero).
func ParseH2load(out []byte) (WrkResult, error) {
	var r WrkResult
	m := h2loadFinished.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no \"finished in\" line")
	}
	r.DurationUS = usOf(m[1], m[2])
	m = h2loadRequests.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("no \"requests:\" line")
	}
	// "failed" counts the 4xx and 5xx answers too, which status codes has: only "errored" (the
	// stream or connection broke) is a read error.
	r.Requests = atoi64(m[1])
	r.Errors.Read = atoi64(m[3])
	r.Errors.Timeout = atoi64(m[4])
	if m = h2loadStatus.FindSubmatch(out); m != nil {
		r.Errors.Status = atoi64(m[1]) + atoi64(m[2])
	}
	if m = h2loadTime.FindSubmatch(out); m != nil {
		r.Latency.Min, r.Latency.Max = usOf(m[1], m[2]), usOf(m[3], m[4])
		r.Latency.Mean, r.Latency.Stdev = usOf(m[5], m[6]), usOf(m[7], m[8])
	}
	if r.DurationUS <= 0 {
		return r, fmt.Errorf("duration %v is not positive", r.DurationUS)
	}
	return r, nil
}

func atoi64(b []byte) int64 {
	n, _ := strconv.ParseInt(string(b), 10, 64)
	return n
}

func usOf(v, unit []byte) float64 {
	f, _ := strconv.ParseFloat(string(v), 64)
	switch string(unit) {
	case "s":
		return f * 1e6
	case "ms":
		return f * 1e3
	}
	return f
}
