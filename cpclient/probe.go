package cpclient

import (
	"context"
	"crypto/tls"
	"strings"
	"time"
)

// probeLoop probes ep until ctx is done: often while it is the endpoint in use, every few probe
// intervals while it is a healthy standby, and with a jittered backoff while it is down.
func (c *Client) probeLoop(ctx context.Context, ep *endpoint) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ep.kick:
			if !t.Stop() {
				select {
				case <-t.C:
				default:
				}
			}
		}
		c.probeOnce(ctx, ep)
		t.Reset(c.probeDelay(ep))
	}
}

func (c *Client) probeOnce(ctx context.Context, ep *endpoint) {
	cn, err := c.connect(ctx, ep)
	var h header
	if err == nil {
		h, err = c.probe(ctx, cn)
	}
	if err != nil && c.cfg.Transport == TransportAuto && !ep.speaksHTTPOnly() && mayBeGatewayOnly(err) {
		if hh, herr := c.tryGateway(ctx, ep); herr == nil {
			h, err = hh, nil
		}
	}
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.log.Debug("probe failed", "endpoint", ep.url, "error", err)
	}
	c.report(ep, h, err, true)
}

func (c *Client) probe(ctx context.Context, cn conn) (header, error) {
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	defer cancel()
	return cn.Probe(pctx, c.probeKey())
}

// mayBeGatewayOnly reports whether a gRPC failure could come from an endpoint that answers only
// HTTP/1.1 (a DP Manager serving the JSON gateway, or a proxy in front of etcd without HTTP/2):
// the connection was made, gRPC itself failed.
func mayBeGatewayOnly(err error) bool {
	msg := err.Error()
	return !isTimeout(err) && !strings.Contains(msg, "connection refused") &&
		!strings.Contains(msg, "authentication failed") && !strings.Contains(msg, "certificate")
}

// tryGateway probes ep over the HTTP/JSON gateway; when that works, the endpoint is spoken to over
// the gateway from now on.
func (c *Client) tryGateway(ctx context.Context, ep *endpoint) (header, error) {
	hc, err := c.dialTransport(ctx, ep.url, true)
	if err != nil {
		return header{}, err
	}
	h, err := c.probe(ctx, hc)
	if err != nil {
		_ = hc.Close()
		return header{}, err
	}
	ep.mu.Lock()
	old := ep.conn
	ep.conn, ep.useHTTP = hc, true
	ep.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	c.log.Info("endpoint does not speak gRPC; using its HTTP/JSON gateway", "endpoint", ep.url)
	return h, nil
}

func (ep *endpoint) speaksHTTPOnly() bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.useHTTP
}

// connect returns ep's connection, dialling it when there is none. A connection that keeps failing
// is dropped, so that the next probe dials afresh (new DNS answer, new TLS files).
func (c *Client) connect(ctx context.Context, ep *endpoint) (conn, error) {
	ep.mu.Lock()
	cn := ep.conn
	if cn != nil && ep.failures >= 3 && int(c.current.Load()) != ep.idx {
		_ = cn.Close()
		ep.conn, cn = nil, nil
	}
	ep.mu.Unlock()
	if cn != nil {
		return cn, nil
	}
	cn, err := c.dialTransport(ctx, ep.url, c.cfg.Transport == TransportHTTP || ep.speaksHTTPOnly())
	if err != nil {
		return nil, err
	}
	ep.mu.Lock()
	ep.conn = cn
	ep.mu.Unlock()
	return cn, nil
}

func (c *Client) dialTransport(ctx context.Context, url string, gateway bool) (conn, error) {
	var tlsFn func() (*tls.Config, error)
	if c.cfg.TLS != nil && strings.HasPrefix(url, "https://") {
		tlsFn = func() (*tls.Config, error) { return c.cfg.TLS(url) }
	}
	if gateway {
		return dialHTTP(ctx, url, httpOptions{
			TLS: tlsFn, Username: c.cfg.Username, Password: c.cfg.Password, DialTimeout: c.cfg.ProbeTimeout,
		})
	}
	o := grpcOptions{
		Username:         c.cfg.Username,
		Password:         c.cfg.Password,
		DialTimeout:      c.cfg.ProbeTimeout,
		KeepAliveTimeout: 3 * c.cfg.ProbeTimeout,
	}
	if tlsFn != nil {
		t, err := tlsFn()
		if err != nil {
			return nil, err
		}
		o.TLS = t
	}
	return dialGRPC(ctx, url, o)
}

func (c *Client) probeDelay(ep *endpoint) time.Duration {
	ep.mu.Lock()
	h, failures := ep.health, ep.failures
	ep.mu.Unlock()
	switch {
	case h == healthDown || failures > 0:
		return backoff(failures, c.cfg.BackoffMin, c.cfg.BackoffMax)
	case int(c.current.Load()) == ep.idx:
		return c.cfg.ProbeInterval
	default:
		return 4 * c.cfg.ProbeInterval
	}
}

// report records the outcome of a probe (or of a session when probe is false) and wakes whoever
// waits for a change of health.
func (c *Client) report(ep *endpoint, h header, err error, probe bool) {
	now := time.Now()
	changed := false
	ep.mu.Lock()
	if err == nil {
		if ep.health != healthUp {
			ep.health, ep.healthySince, changed = healthUp, now, true
		}
		ep.hdr, ep.lastSuccess, ep.timeouts, ep.failures = h, now, 0, 0
	} else {
		ep.lastErr, ep.lastErrAt = err.Error(), now
		ep.failures++
		timeout := probe && isTimeout(err)
		if timeout {
			ep.timeouts++
		} else {
			ep.timeouts = 0
		}
		// One timeout may be a hiccup of a healthy endpoint; two in a row, or any answer that says
		// no, mark it down.
		if (!timeout || ep.timeouts >= 2 || ep.health != healthUp) && ep.health != healthDown {
			ep.health, changed = healthDown, true
		}
	}
	prevErr := ep.lastErr
	ep.mu.Unlock()
	if !changed {
		return
	}
	if err == nil {
		c.log.Info("control-plane endpoint healthy", "endpoint", ep.url, "revision", h.Revision)
	} else {
		c.log.Warn("control-plane endpoint unhealthy", "endpoint", ep.url, "error", prevErr)
	}
	if c.cfg.OnHealth != nil {
		c.cfg.OnHealth(ep.url, err == nil)
	}
	c.broadcast()
}
