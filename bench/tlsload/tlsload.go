package tlsload

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options describe a run.
type Options struct {
	// URL is the https URL requested; its host is dialled, and is the SNI unless it is an IP
	// address (as wrk and browsers do).
	URL string
	// Conns is the number of workers, each with one connection at a time (default 1).
	Conns int
	// Duration is how long the workers start new requests.
	Duration time.Duration
	// Resume makes each worker offer its last session back (a TLS 1.3 ticket); else every
	// handshake is a full one.
	Resume bool
	// Headers are extra request headers, "Name: value".
	Headers []string
	// Timeout bounds one request, connection included (default 5s).
	Timeout time.Duration
}

// Result is a run's totals, in the terms of the harness's wrk.lua.
type Result struct {
	DurationUS float64 `json:"duration_us"`
	Requests   int64   `json:"requests"`
	Bytes      int64   `json:"bytes"`
	// Resumed is the number of requests whose handshake resumed a session.
	Resumed int64   `json:"resumed"`
	Errors  Errors  `json:"errors"`
	Latency Latency `json:"latency_us"`
}

// Errors count failed requests by phase; Status is an answer other than 2xx.
type Errors struct {
	Connect int64 `json:"connect"`
	Read    int64 `json:"read"`
	Write   int64 `json:"write"`
	Status  int64 `json:"status"`
	Timeout int64 `json:"timeout"`
}

// Latency is the distribution of the requests' times (connection and handshake included), in
// microseconds.
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

type worker struct {
	res  Result
	lats []float64
}

// Run sends requests until the duration has passed or ctx ends, and returns the totals.
func Run(ctx context.Context, o Options) (Result, error) {
	u, err := url.Parse(o.URL)
	if err != nil {
		return Result{}, err
	}
	if u.Scheme != "https" {
		return Result{}, fmt.Errorf("%s: not an https URL", o.URL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	path := u.RequestURI()
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", path, u.Host)
	for _, h := range o.Headers {
		if len(h) >= 11 && strings.EqualFold(h[:11], "connection:") {
			continue // always close, below
		}
		req.WriteString(h + "\r\n")
	}
	req.WriteString("Connection: close\r\n\r\n")
	if o.Conns < 1 {
		o.Conns = 1
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	sni := u.Hostname()
	if net.ParseIP(sni) != nil {
		sni = ""
	}
	start := time.Now()
	end := start.Add(o.Duration)
	ws := make([]*worker, o.Conns)
	var wg sync.WaitGroup
	for i := range ws {
		w := &worker{}
		ws[i] = w
		cfg := &tls.Config{ServerName: sni, InsecureSkipVerify: true, // the bench's self-signed certificate
			CurvePreferences: []tls.CurveID{tls.X25519}, NextProtos: []string{"http/1.1"}}
		if o.Resume {
			cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(end) {
				w.one(ctx, addr, cfg, req.Bytes(), o.Timeout)
			}
		}()
	}
	wg.Wait()
	var r Result
	var lats []float64
	for _, w := range ws {
		r.Requests += w.res.Requests
		r.Bytes += w.res.Bytes
		r.Resumed += w.res.Resumed
		r.Errors.Connect += w.res.Errors.Connect
		r.Errors.Read += w.res.Errors.Read
		r.Errors.Write += w.res.Errors.Write
		r.Errors.Status += w.res.Errors.Status
		r.Errors.Timeout += w.res.Errors.Timeout
		lats = append(lats, w.lats...)
	}
	r.DurationUS = float64(time.Since(start).Microseconds())
	r.Latency = distribution(lats)
	if r.Requests == 0 {
		return r, errors.New("no request succeeded")
	}
	return r, nil
}

var status2xx = []byte("HTTP/1.1 2")

// one runs one request on a new connection.
func (w *worker) one(ctx context.Context, addr string, cfg *tls.Config, req []byte, timeout time.Duration) {
	t0 := time.Now()
	d := net.Dialer{Timeout: timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		w.res.Errors.Connect++
		return
	}
	defer raw.Close()
	_ = raw.SetDeadline(t0.Add(timeout))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		w.count(err, &w.res.Errors.Connect)
		return
	}
	if _, err := c.Write(req); err != nil {
		w.count(err, &w.res.Errors.Write)
		return
	}
	br := bufio.NewReaderSize(c, 4096)
	line, err := br.ReadSlice('\n')
	if err != nil {
		w.count(err, &w.res.Errors.Read)
		return
	}
	n, err := io.Copy(io.Discard, br)
	if err != nil {
		w.count(err, &w.res.Errors.Read)
		return
	}
	if !bytes.HasPrefix(line, status2xx) {
		w.res.Errors.Status++
		return
	}
	w.res.Requests++
	w.res.Bytes += int64(len(line)) + n
	if c.ConnectionState().DidResume {
		w.res.Resumed++
	}
	w.lats = append(w.lats, float64(time.Since(t0).Microseconds()))
}

func (w *worker) count(err error, phase *int64) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		w.res.Errors.Timeout++
		return
	}
	*phase++
}

func distribution(l []float64) Latency {
	if len(l) == 0 {
		return Latency{}
	}
	slices.Sort(l)
	var sum, sq float64
	for _, v := range l {
		sum += v
	}
	mean := sum / float64(len(l))
	for _, v := range l {
		sq += (v - mean) * (v - mean)
	}
	pct := func(p float64) float64 { return l[min(len(l)-1, int(p/100*float64(len(l))))] }
	return Latency{Min: l[0], Max: l[len(l)-1], Mean: mean, Stdev: math.Sqrt(sq / float64(len(l))),
		P50: pct(50), P90: pct(90), P99: pct(99), P999: pct(99.9)}
}
