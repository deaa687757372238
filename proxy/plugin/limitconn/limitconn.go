// Package limitconn is APISIX's limit-conn plugin (apache/apisix apisix/plugins/limit-conn.lua,
// limit-conn/init.lua, on lua-resty-limit-traffic's resty/limit/conn.lua): at most conn + burst
// requests in flight per key, taken in the access phase (priority 1003) and given back in the
// log phase, when the request ends (plugin.Request.Finish: whatever its outcome, a client gone
// included).
//
// Conf: conn (integer > 0), burst (integer >= 0), default_conn_delay (seconds > 0), key and
// key_type (var, var_combination; no value: the client address), only_use_default_delay,
// rejected_code (503), rejected_msg, policy (local only here), allow_degradation. The n-th
// request in flight past conn waits default_conn_delay * floor((n-1)/conn) before it goes on
// (APISIX makes a limiter per request, so its delay never adapts to latencies); past
// conn + burst it is rejected. The wait holds no lock.
package limitconn

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

// Name and Priority are APISIX's.
const (
	Name     = "limit-conn"
	Priority = 1003
)

// Plugin is limit-conn sleeping with time.Sleep.
var Plugin plugin.Plugin = New(nil)

// New returns limit-conn waiting with sleep (nil: time.Sleep); tests pass theirs.
func New(sleep func(time.Duration)) plugin.Plugin {
	if sleep == nil {
		sleep = time.Sleep
	}
	return &limitConn{sleep: sleep}
}

type limitConn struct{ sleep func(time.Duration) }

func (*limitConn) Name() string  { return Name }
func (*limitConn) Priority() int { return Priority }

// Conf is a compiled conf.
type Conf struct {
	Conn, Burst int64
	Delay       time.Duration // default_conn_delay
	limit.Common

	slots *slots
	sleep func(time.Duration)
}

// slots are the in-flight counts of one conf, by key.
type slots struct{ keys *limit.Table[slot] }

type slot struct{ n atomic.Int64 }

var errOneOf = errors.New("value should match only one schema, but matches none")

func (lc *limitConn) Compile(raw []byte, env *plugin.Env) (plugin.Instance, error) {
	c, err := plugin.ParseConf(raw)
	if err != nil {
		return nil, err
	}
	conf := &Conf{sleep: lc.sleep}
	if c.Has("rules") {
		return nil, errors.New(`property "rules" is not supported by zoneproxy`)
	}
	if !c.Has("conn") || !c.Has("burst") || !c.Has("default_conn_delay") || !c.Has("key") {
		return nil, errOneOf
	}
	for _, f := range []struct {
		name string
		min  int64
		dst  *int64
	}{{"conn", 1, &conf.Conn}, {"burst", 0, &conf.Burst}} {
		if _, err := c.String(f.name, ""); err == nil {
			return nil, fmt.Errorf("property %q validation failed: a variable is not supported by zoneproxy", f.name)
		}
		n, err := c.Int(f.name, 0)
		if err != nil || int64(n) < f.min {
			return nil, fmt.Errorf("property %q validation failed: %w", f.name, errOneOf)
		}
		*f.dst = int64(n)
	}
	d, err := c.Number("default_conn_delay", 0)
	if err != nil {
		return nil, err
	}
	if d <= 0 {
		return nil, fmt.Errorf(`property "default_conn_delay" validation failed: expected %v to be greater than 0`, d)
	}
	conf.Delay = time.Duration(d * float64(time.Second))
	if _, err := c.Bool("only_use_default_delay", false); err != nil {
		return nil, err
	}
	if conf.Common, err = limit.CompileCommon(c, "limit-conn", false); err != nil {
		return nil, err
	}
	var store *plugin.Store
	id := ""
	if env != nil {
		store, id = env.Store, env.Key
	}
	// The counts of one conf, kept while the conf is: the requests in flight across a
	// configuration update that leaves it alone are still counted.
	version := crc32.ChecksumIEEE(fmt.Appendf(nil, "%d|%d|%v|%s|%s", conf.Conn, conf.Burst, conf.Delay, conf.Key, conf.KeyType))
	conf.slots = plugin.Keep(store, "limit-conn#"+id+"#"+strconv.FormatUint(uint64(version), 10), func() *slots {
		return &slots{keys: limit.NewTable(func(s *slot, _ int64) bool { return s.n.Load() <= 0 })}
	})
	return conf, nil
}

// Access takes a slot for the request, waiting or rejecting as resty.limit.conn does.
func (c *Conf) Access(r *plugin.Request) plugin.Reply {
	r.Scratch = c.CompiledKey.Append(r.Scratch[:0], r)
	s := c.slots.keys.Get(r.Scratch, 0)
	n := s.n.Add(1)
	if n > c.Conn+c.Burst {
		s.n.Add(-1)
		return plugin.Reply{Status: c.RejectedCode, Body: c.Rejected}
	}
	// Held until the log phase: the slot is the request's user value under this conf.
	r.Ctx.SetUserValue(c, s)
	if n > c.Conn {
		if d := c.Delay * time.Duration((n-1)/c.Conn); d >= time.Millisecond {
			c.sleep(d)
		}
	}
	return plugin.Reply{}
}

// Log gives the request's slot back, once the response body has been sent: a streamed body
// holds it until its end, as nginx's log phase runs after the last byte.
func (c *Conf) Log(r *plugin.Request) {
	if s, ok := r.Ctx.UserValue(c).(*slot); ok {
		r.Ctx.RemoveUserValue(c)
		r.AfterBody(s)
	}
}

// Release gives one slot back.
func (s *slot) Release() { s.n.Add(-1) }
