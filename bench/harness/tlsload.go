package harness

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// tlsloadRun is one bench/cmd/tlsload invocation: a new TLS connection per request.
type tlsloadRun struct {
	bin      string   // tlsload, built into the run's directory
	pin      []string // taskset prefix, or nil
	conns    int
	duration time.Duration
	headers  []string
	url      string
	resume   bool
	nice     int
}

func (w tlsloadRun) args() []string {
	a := append([]string{}, w.pin...)
	a = append(a, w.bin, "-c", strconv.Itoa(w.conns), "-d", w.duration.String())
	if w.resume {
		a = append(a, "-resume")
	}
	for _, h := range w.headers {
		a = append(a, "-H", h)
	}
	return append(a, w.url)
}

// run runs tlsload to the end and parses its line, which is wrk.lua's. A resumed run in which
// fewer than nine handshakes in ten resumed is an error: the row would not be what it says.
func (w tlsloadRun) run(ctx context.Context) (WrkResult, error) {
	r, err := runLoad(ctx, "tlsload", w.url, w.args(), w.duration, w.nice, ParseWrk)
	if err != nil {
		return r, err
	}
	if w.resume && r.Resumed*10 < r.Requests*9 {
		return r, fmt.Errorf("tlsload %s: only %d of %d handshakes resumed", w.url, r.Resumed, r.Requests)
	}
	if !w.resume && r.Resumed > 0 {
		return r, fmt.Errorf("tlsload %s: %d handshakes resumed in a full-handshake run", w.url, r.Resumed)
	}
	return r, nil
}
