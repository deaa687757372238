package harness

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"time"
)

//go:embed wrk.lua
var wrkScript []byte

// wrkMarker starts the line wrk.lua prints.
const wrkMarker = "ZPBENCH "

// WrkResult is what wrk.lua reports for one run.
type WrkResult struct {
	DurationUS float64 `json:"duration_us"`
	Requests   int64   `json:"requests"`
	Bytes      int64   `json:"bytes"`
	// Resumed is the number of requests whose TLS handshake resumed a session (tlsload only).
	Resumed int64     `json:"resumed,omitempty"`
	Errors  WrkErrors `json:"errors"`
	Latency Latency   `json:"latency_us"`
}

// WrkErrors are wrk's error counters; Status counts responses with a status above 399.
type WrkErrors struct {
	Connect int64 `json:"connect"`
	Read    int64 `json:"read"`
	Write   int64 `json:"write"`
	Status  int64 `json:"status"`
	Timeout int64 `json:"timeout"`
}

// Total is the sum of the counters.
func (e WrkErrors) Total() int64 { return e.Connect + e.Read + e.Write + e.Status + e.Timeout }

// Latency is wrk's latency distribution, in microseconds.
type Latency struct {
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	Stdev float64 `json:"stdev"`
	Max   float64 `json:"max"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
}

// RPS is requests per second over the run.
func (r WrkResult) RPS() float64 {
	if r.DurationUS <= 0 {
		return 0
	}
	return float64(r.Requests) / (r.DurationUS / 1e6)
}

// errNoWrkResult means wrk's output lacks the line wrk.lua prints.
var errNoWrkResult = errors.New("wrk printed no " + wrkMarker + "line")

// ParseWrk finds the line wrk.lua printed in wrk's output and decodes it.
func ParseWrk(out []byte) (WrkResult, error) {
	var r WrkResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte(wrkMarker)) {
			continue
		}
		if err := json.Unmarshal(line[len(wrkMarker):], &r); err != nil {
			return r, fmt.Errorf("wrk result line: %w", err)
		}
		if r.DurationUS <= 0 {
			return r, fmt.Errorf("wrk result line: duration_us %v is not positive", r.DurationUS)
		}
		return r, nil
	}
	return r, errNoWrkResult
}

// wrkRun is one wrk invocation.
type wrkRun struct {
	bin      string   // wrk
	pin      []string // taskset prefix, or nil
	script   string   // path of wrk.lua
	threads  int
	conns    int
	duration time.Duration
	headers  []string
	url      string
	nice     int
}

func (w wrkRun) args() []string {
	secs := int(w.duration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	a := append([]string{}, w.pin...)
	a = append(a, w.bin, "-t", strconv.Itoa(w.threads), "-c", strconv.Itoa(w.conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "5s", "-s", w.script)
	for _, h := range w.headers {
		a = append(a, "-H", h)
	}
	return append(a, w.url)
}

// run runs wrk to the end and parses its result.
func (w wrkRun) run(ctx context.Context) (WrkResult, error) {
	return runLoad(ctx, "wrk", w.url, w.args(), w.duration, w.nice, ParseWrk)
}

// runLoad runs a load generator's argv (pin prefix included) to its end, at nice, and parses its
// output with parse; name and url label the errors. The generator ends by itself after duration;
// the context is a guard against a hang.
func runLoad(ctx context.Context, name, url string, a []string, duration time.Duration, nice int,
	parse func([]byte) (WrkResult, error)) (WrkResult, error) {
	cctx, cancel := context.WithTimeout(ctx, duration+30*time.Second)
	defer cancel()
	var buf bytes.Buffer
	cmd := exec.CommandContext(cctx, a[0], a[1:]...)
	cmd.Stdout, cmd.Stderr = &buf, &buf
	cmd.SysProcAttr = childAttr(nice)
	err := cmd.Start()
	if err == nil {
		setAutogroupNice(cmd.Process.Pid, nice)
		err = cmd.Wait()
	}
	out := buf.Bytes()
	if err != nil {
		return WrkResult{}, fmt.Errorf("%s %s: %w: %s", name, url, err, bytes.TrimSpace(out))
	}
	r, err := parse(out)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w: %s", name, url, err, bytes.TrimSpace(out))
	}
	return r, nil
}
