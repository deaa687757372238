package cpclient

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type health uint8

const (
	healthUnknown health = iota // not probed yet
	healthUp
	healthDown
)

func (h health) String() string {
	switch h {
	case healthUp:
		return "healthy"
	case healthDown:
		return "unhealthy"
	}
	return "unknown"
}

// endpoint is one control-plane endpoint and what the Client knows of its health.
type endpoint struct {
	idx  int
	url  string
	kick chan struct{} // asks the prober for a probe now

	mu           sync.Mutex
	conn         conn
	health       health
	healthySince time.Time
	lastSuccess  time.Time
	lastErr      string
	lastErrAt    time.Time
	hdr          header
	timeouts     int // consecutive probe timeouts
	failures     int // consecutive failures, for the probe backoff
	// sessionFailures counts sessions that failed in a row on this endpoint; notBefore keeps the
	// endpoint out of the choice for a backoff after such a failure, so a broken endpoint that
	// still answers probes is not retried in a tight loop.
	sessionFailures int
	notBefore       time.Time
	// progress is set once the endpoint answered a watch progress request: only then is a
	// silence after a request taken as a hung watch stream.
	progress bool
	// useHTTP is set once an endpoint is known to speak only the HTTP/JSON gateway (auto transport).
	useHTTP bool
}

func (ep *endpoint) snapshot() (h health, since time.Time, notBefore time.Time) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.health, ep.healthySince, ep.notBefore
}

func (ep *endpoint) header() header {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.hdr
}

func (ep *endpoint) requestProbe() {
	select {
	case ep.kick <- struct{}{}:
	default:
	}
}

// isTimeout reports whether err is a probe that got no answer in time, as opposed to an answer
// that says no (refused, reset, TLS or authentication failure).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if s, ok := status.FromError(err); ok && s.Code() == codes.DeadlineExceeded {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff returns the jittered delay before the n-th retry (n >= 1): min doubling up to max,
// then ±20 % so that many data planes do not probe in step.
func backoff(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	jitter := time.Duration(float64(d) * 0.2 * (2*rand.Float64() - 1))
	return d + jitter
}
