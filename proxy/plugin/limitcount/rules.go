package limitcount

import (
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/zoneproxy/zoneproxy/proxy/plugin"
	"github.com/zoneproxy/zoneproxy/proxy/plugin/internal/limit"
)

// rule is one of APISIX 3.x's rules: its own count and window, a key template ($var and
// ${var ?? default}) resolved per request, and its own quota headers (the names with
// header_prefix, or the rule's 1-based position, before "RateLimit-": X-1-RateLimit-Limit).
type rule struct {
	count, window int64
	keyText       string
	key           limit.Key
	prefix        string
	limitVal      []byte
	back          backend
	// names caches the canonical header names for the metadata's names (or the defaults):
	// made once per metadata version, so that a request allocates nothing.
	names atomic.Pointer[ruleHeaders]
}

type ruleHeaders struct {
	base *Headers
	keys *quotaKeys // the names' canonical forms
}

// compileRules reads rules[] (APISIX's schema: count, time_window and key required; count and
// time_window an integer > 0, or a variable, which zoneproxy does not support; header_prefix);
// two rules with the same key are rejected, as APISIX does, since they would share a counter.
func compileRules(c plugin.Conf) ([]*rule, error) {
	items, err := c.Objects("rules")
	if err != nil {
		return nil, err
	}
	var out []*rule
	seen := map[string]bool{}
	for i, it := range items {
		ru, err := compileRule(it, i)
		if err != nil {
			return nil, fmt.Errorf("property \"rules\" validation failed: failed to validate item %d: %w", i+1, err)
		}
		if seen[ru.keyText] {
			return nil, fmt.Errorf("duplicate key '%s' in rules", ru.keyText)
		}
		seen[ru.keyText] = true
		out = append(out, ru)
	}
	if out == nil {
		out = []*rule{} // "rules": [] is valid, and limits nothing: every request is a 500
	}
	return out, nil
}

func compileRule(c plugin.Conf, i int) (*rule, error) {
	if err := c.Required("count", "time_window", "key"); err != nil {
		return nil, err
	}
	ru := &rule{}
	var err error
	if ru.count, err = positive(c, "count"); err != nil {
		return nil, err
	}
	if ru.window, err = positive(c, "time_window"); err != nil {
		return nil, err
	}
	if ru.keyText, err = c.String("key", ""); err != nil {
		return nil, err
	}
	if ru.key, err = limit.CompileKey(ru.keyText, limit.TypeVarCombination); err != nil {
		return nil, err
	}
	if ru.prefix, err = c.String("header_prefix", strconv.Itoa(i+1)); err != nil {
		return nil, err
	}
	ru.limitVal = strconv.AppendInt(nil, ru.count, 10)
	return ru, nil
}

func rulesSig(rules []*rule) string {
	var b strings.Builder
	for _, ru := range rules {
		fmt.Fprintf(&b, "%d|%d|%q|%q;", ru.count, ru.window, ru.keyText, ru.prefix)
	}
	return b.String()
}

// quotaKeys are the canonical names of the rule's quota headers for the base names.
func (ru *rule) quotaKeys(base *Headers) *quotaKeys {
	if h := ru.names.Load(); h != nil && h.base == base {
		return h.keys
	}
	ins := func(name string) string {
		return strings.Replace(name, "RateLimit-", ru.prefix+"-RateLimit-", 1)
	}
	h := &ruleHeaders{base: base, keys: newQuotaKeys(base, ins(base.Limit), ins(base.Remaining), ins(base.Reset))}
	ru.names.Store(h)
	return h.keys
}

// accessRules runs the rules in order, as APISIX's rate_limit: a rule whose key resolves no
// variable is skipped; each rule that applies counts the request and sets its headers; the
// first that rejects answers. When no rule applies the request is answered 500 (APISIX:
// "failed to get rate limit rules"), or let through with allow_degradation.
func (c *Conf) accessRules(r *plugin.Request) plugin.Reply {
	applied := false
	now := c.time(r)
	for _, ru := range c.rules {
		var ok bool
		if r.Scratch, ok = ru.key.Resolve(r.Scratch[:0], r); !ok {
			continue
		}
		applied = true
		res, err := ru.back.incoming(r.Scratch, now)
		if err != nil {
			if c.AllowDegradation {
				continue
			}
			return plugin.Reply{Status: 500, Body: failedBody}
		}
		if c.ShowQuotaHeader {
			c.setHeaders(r, ru.quotaKeys(c.headerNames(r)), ru.limitVal, &res)
		}
		if res.rejected {
			return plugin.Reply{Status: c.RejectedCode, Body: c.rejected}
		}
	}
	if !applied && !c.AllowDegradation {
		return plugin.Reply{Status: 500}
	}
	return plugin.Reply{}
}
