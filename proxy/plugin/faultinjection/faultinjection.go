// Package faultinjection is APISIX's fault-injection plugin (apache/apisix
// apisix/plugins/fault-injection.lua): requests are delayed, or answered without the upstream,
// to test how clients cope.
//
// Conf: abort {http_status (>= 200, required), body (with $vars), headers (string values with
// $vars, numbers), percentage (0-100), vars (a list of vars expressions, any of which matching
// lets the abort happen)}; delay {duration (seconds, >= 0, required), percentage, vars}. At
// least one of the two.
//
// Phase: rewrite, priority 11000. The delay comes first, then the abort answers http_status with
// body (none: nginx's page for the status) and the headers. A delay waits on the request's own
// goroutine (cut short by the server's shutdown) and holds no lock: other requests, on the same connection's peers or elsewhere, go
// on. A percentage draws per request (math/rand/v2, safe for concurrent use). Header values that
// variables bring CR or LF into are percent-encoded.
package faultinjection

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/respheader"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/tmpl"
	"github.com/zoneproxy/zoneproxy/router/expr"
)

// Name and Priority are APISIX's.
const (
	Name     = "fault-injection"
	Priority = 11000
)

// Plugin is fault-injection.
var Plugin plugin.Plugin = faultInjection{}

type faultInjection struct{}

func (faultInjection) Name() string  { return Name }
func (faultInjection) Priority() int { return Priority }

// gate is what abort and delay share: percentage and vars.
type gate struct {
	percentage int // -1: none
	vars       []*expr.Expr
	hasVars    bool
}

type header struct {
	name  string
	value *tmpl.Template
}

// Conf is a compiled conf.
type Conf struct {
	abort   *abort
	delay   *delay
	sleeper func(ctx *fasthttp.RequestCtx, d time.Duration) // wait; tests count the sleeps
}

type abort struct {
	gate
	status  int
	body    *tmpl.Template // nil: nginx's page
	headers []header
}

type delay struct {
	gate
	duration time.Duration
}

func (faultInjection) Compile(raw []byte, _ *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.MinProperties(1); err != nil {
		return nil, err
	}
	conf := &Conf{sleeper: wait}
	if v, ok := c.Raw("abort"); ok {
		if conf.abort, err = compileAbort(v); err != nil {
			return nil, fmt.Errorf(`property "abort" validation failed: %w`, err)
		}
	}
	if v, ok := c.Raw("delay"); ok {
		if conf.delay, err = compileDelay(v); err != nil {
			return nil, fmt.Errorf(`property "delay" validation failed: %w`, err)
		}
	}
	return conf, nil
}

func compileGate(c plugin.Conf) (gate, error) {
	g := gate{percentage: -1}
	if c.Has("percentage") {
		p, err := c.Int("percentage", 0)
		if err != nil {
			return g, err
		}
		if p < 0 {
			return g, fmt.Errorf(`property "percentage" validation failed: expected %d to be at least 0`, p)
		}
		if p > 100 {
			return g, fmt.Errorf(`property "percentage" validation failed: expected %d to be at most 100`, p)
		}
		g.percentage = p
	}
	v, ok := c.Raw("vars")
	if !ok {
		return g, nil
	}
	var items []json.RawMessage
	if json.Unmarshal(v, &items) != nil {
		return g, fmt.Errorf(`property "vars" validation failed: wrong type: expected array`)
	}
	if len(items) > 20 {
		return g, fmt.Errorf(`property "vars" validation failed: expect array to have at most 20 items`)
	}
	g.hasVars = true
	for i, it := range items {
		if !bytes.HasPrefix(bytes.TrimSpace(it), []byte("[")) {
			return g, fmt.Errorf(`property "vars" validation failed: failed to validate item %d: wrong type: expected array`, i+1)
		}
		e, err := expr.Compile(it)
		if err != nil {
			return g, fmt.Errorf("failed to create vars expression: %v", err)
		}
		g.vars = append(g.vars, e)
	}
	return g, nil
}

func compileAbort(raw json.RawMessage) (*abort, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Required("http_status"); err != nil {
		return nil, err
	}
	a := &abort{}
	if a.status, err = c.Int("http_status", 0); err != nil {
		return nil, err
	}
	if a.status < 200 {
		return nil, fmt.Errorf(`property "http_status" validation failed: expected %d to be at least 200`, a.status)
	}
	if a.status > 999 {
		// Not in APISIX's schema; nginx cannot send a status of more than three digits.
		return nil, fmt.Errorf(`property "http_status" validation failed: expected %d to be at most 999`, a.status)
	}
	if c.Has("body") {
		s, err := c.String("body", "")
		if err != nil {
			return nil, err
		}
		if a.body, err = tmpl.Compile(s, tmpl.Vars); err != nil {
			return nil, fmt.Errorf(`property "body" validation failed: %w`, err)
		}
	}
	if h, ok := c.Raw("headers"); ok {
		var m map[string]json.RawMessage
		if json.Unmarshal(h, &m) != nil || m == nil {
			return nil, fmt.Errorf(`property "headers" validation failed: wrong type: expected object`)
		}
		if len(m) == 0 {
			return nil, fmt.Errorf(`property "headers" validation failed: expect object to have at least 1 properties`)
		}
		for name, v := range m {
			if !respheader.ValidName(name) {
				return nil, fmt.Errorf(`property "headers" validation failed: invalid header name %q`, name)
			}
			s, ok := respheader.Scalar(v)
			if !ok {
				return nil, fmt.Errorf(`property "headers" validation failed: property %q validation failed: value should match only one schema, but matches none`, name)
			}
			// A number has no "$": it is set as it is.
			t, err := tmpl.Compile(s, tmpl.Vars)
			if err != nil {
				return nil, fmt.Errorf(`property "headers" validation failed: %w`, err)
			}
			a.headers = append(a.headers, header{name: name, value: t})
		}
		slices.SortFunc(a.headers, func(x, y header) int { return bytes.Compare([]byte(x.name), []byte(y.name)) })
	}
	if a.gate, err = compileGate(c); err != nil {
		return nil, err
	}
	return a, nil
}

func compileDelay(raw json.RawMessage) (*delay, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	if err := c.Required("duration"); err != nil {
		return nil, err
	}
	d := &delay{}
	secs, err := c.Number("duration", 0)
	if err != nil {
		return nil, err
	}
	if secs < 0 {
		return nil, fmt.Errorf(`property "duration" validation failed: expected %v to be at least 0`, secs)
	}
	d.duration = time.Duration(secs * float64(time.Second))
	if d.gate, err = compileGate(c); err != nil {
		return nil, err
	}
	return d, nil
}

// open reports whether the gate lets this request through: its vars (any of them) and its
// percentage.
func (g *gate) open(r *plugin.Request) bool {
	if g.hasVars {
		matched := false
		for _, e := range g.vars {
			if r.Vars != nil && r.Vars.Eval(r.Ctx, e) {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	return g.percentage < 0 || rand.IntN(100)+1 <= g.percentage
}

// Rewrite delays and aborts the request.
func (c *Conf) Rewrite(r *plugin.Request) plugin.Reply {
	// APISIX evaluates both vars before the delay.
	delayOpen := c.delay != nil && c.delay.open(r)
	abortVars := c.abort != nil && (!c.abort.hasVars || c.abort.varsMatch(r))
	if delayOpen && c.delay.duration > 0 {
		c.sleeper(r.Ctx, c.delay.duration)
	}
	if !abortVars || (c.abort.percentage >= 0 && rand.IntN(100)+1 > c.abort.percentage) {
		return plugin.Reply{}
	}
	a := c.abort
	h := &r.Ctx.Response.Header
	sc := r.Scratch[:0]
	for _, hd := range a.headers {
		sc = hd.value.AppendHeaderValue(sc[:0], r)
		h.SetBytesV(hd.name, sc)
	}
	rep := plugin.Reply{Status: a.status}
	if a.body != nil {
		sc = a.body.Append(sc[:0], r, nil, nil, nil)
		rep.Body = sc
		if rep.Body == nil {
			rep.Body = []byte{}
		}
	}
	r.Scratch = sc[:0]
	return rep
}

// wait waits d, or less when the server shuts down (RequestCtx.Done), so that a long delay does
// not hold a graceful shutdown.
func wait(ctx *fasthttp.RequestCtx, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (a *abort) varsMatch(r *plugin.Request) bool {
	for _, e := range a.vars {
		if r.Vars != nil && r.Vars.Eval(r.Ctx, e) {
			return true
		}
	}
	return false
}
