package upstream

import (
	"encoding/json"
	"fmt"
	"slices"
)

var httpMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "PURGE"}

func parseChecksField(obj map[string]json.RawMessage, s *Spec) error {
	raw, ok := obj["checks"]
	if !ok {
		return nil
	}
	c, err := asObject(raw, "checks")
	if err != nil {
		return err
	}
	rawActive, ok := c["active"]
	if !ok {
		// schema: anyOf {required: [active]}, {required: [active, passive]}
		return invalid("checks.active", "is required when checks is set")
	}
	s.Checks = &Checks{}
	if s.Checks.Active, err = parseActive(rawActive); err != nil {
		return err
	}
	if rawPassive, ok := c["passive"]; ok {
		if s.Checks.Passive, err = parsePassive(rawPassive); err != nil {
			return err
		}
	}
	return nil
}

func parseActive(raw json.RawMessage) (*ActiveCheck, error) {
	const f = "checks.active"
	obj, err := asObject(raw, f)
	if err != nil {
		return nil, err
	}
	a := &ActiveCheck{
		Type: "http", Timeout: 1, Concurrency: 10, HTTPMethod: "GET", HTTPPath: "/",
		HTTPSVerifyCertificate: true,
		Healthy:                ActiveHealthy{Interval: 1, HTTPStatuses: slices.Clone(defaultActiveHealthyStatuses), Successes: 2},
		Unhealthy: ActiveUnhealthy{Interval: 1, HTTPStatuses: slices.Clone(defaultActiveUnhealthyStatuses),
			HTTPFailures: 5, TCPFailures: 2, Timeouts: 3},
	}
	if v, ok := obj["type"]; ok {
		if a.Type, err = checkType(v, f+".type"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["timeout"]; ok {
		if a.Timeout, err = asNumber(v, f+".timeout"); err != nil {
			return nil, err
		}
		if a.Timeout <= 0 {
			return nil, invalid(f+".timeout", "must be > 0")
		}
	}
	if v, ok := obj["concurrency"]; ok {
		n, err := asIntRange(v, f+".concurrency", -1<<31, 1<<31-1)
		if err != nil {
			return nil, err
		}
		a.Concurrency = max(n, 1) // lua-resty-healthcheck treats < 1 as one work package
	}
	if v, ok := obj["host"]; ok {
		if a.Host, err = parseHostDef(v, f+".host"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["port"]; ok {
		if a.Port, err = asIntRange(v, f+".port", 1, 65535); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["http_method"]; ok {
		if a.HTTPMethod, err = asString(v, f+".http_method"); err != nil {
			return nil, err
		}
		if !slices.Contains(httpMethods, a.HTTPMethod) {
			return nil, invalid(f+".http_method", fmt.Sprintf("%q is not an HTTP method", a.HTTPMethod))
		}
	}
	if v, ok := obj["http_path"]; ok {
		if a.HTTPPath, err = asString(v, f+".http_path"); err != nil {
			return nil, err
		}
		if hasCRLF(a.HTTPPath) || a.HTTPPath == "" {
			return nil, invalid(f+".http_path", "must be a non-empty path without CR or LF")
		}
	}
	if v, ok := obj["http_req_body"]; ok {
		if a.HTTPReqBody, err = asString(v, f+".http_req_body"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["https_verify_certificate"]; ok {
		if a.HTTPSVerifyCertificate, err = asBool(v, f+".https_verify_certificate"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["req_headers"]; ok {
		if a.ReqHeaders, err = parseReqHeaders(v, f+".req_headers"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["healthy"]; ok {
		if err := parseActiveHealthy(v, &a.Healthy); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["unhealthy"]; ok {
		if err := parseActiveUnhealthy(v, &a.Unhealthy); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func checkType(raw json.RawMessage, field string) (string, error) {
	t, err := asString(raw, field)
	if err != nil {
		return "", err
	}
	if t != "http" && t != "https" && t != "tcp" {
		return "", invalid(field, fmt.Sprintf("%q is not one of http, https, tcp", t))
	}
	return t, nil
}

func parseReqHeaders(raw json.RawMessage, field string) ([]string, error) {
	items, err := asArray(raw, field)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid(field, "must have at least 1 item")
	}
	out := make([]string, len(items))
	for i, it := range items {
		if out[i], err = asString(it, field); err != nil {
			return nil, err
		}
		if hasCRLF(out[i]) {
			return nil, invalid(field, fmt.Sprintf("%q must not contain CR or LF", out[i]))
		}
	}
	return out, nil
}

func parseActiveHealthy(raw json.RawMessage, h *ActiveHealthy) error {
	const f = "checks.active.healthy"
	obj, err := asObject(raw, f)
	if err != nil {
		return err
	}
	if v, ok := obj["interval"]; ok {
		if h.Interval, err = asIntRange(v, f+".interval", 1, 1<<31-1); err != nil {
			return err
		}
	}
	if v, ok := obj["http_statuses"]; ok {
		if h.HTTPStatuses, err = parseStatuses(v, f+".http_statuses"); err != nil {
			return err
		}
	}
	if v, ok := obj["successes"]; ok {
		if h.Successes, err = asIntRange(v, f+".successes", 1, 254); err != nil {
			return err
		}
	}
	return nil
}

func parseActiveUnhealthy(raw json.RawMessage, u *ActiveUnhealthy) error {
	const f = "checks.active.unhealthy"
	obj, err := asObject(raw, f)
	if err != nil {
		return err
	}
	if v, ok := obj["interval"]; ok {
		if u.Interval, err = asIntRange(v, f+".interval", 1, 1<<31-1); err != nil {
			return err
		}
	}
	if v, ok := obj["http_statuses"]; ok {
		if u.HTTPStatuses, err = parseStatuses(v, f+".http_statuses"); err != nil {
			return err
		}
	}
	for _, c := range []struct {
		name string
		dst  *int
	}{{"http_failures", &u.HTTPFailures}, {"tcp_failures", &u.TCPFailures}, {"timeouts", &u.Timeouts}} {
		if v, ok := obj[c.name]; ok {
			if *c.dst, err = asIntRange(v, f+"."+c.name, 1, 254); err != nil {
				return err
			}
		}
	}
	return nil
}

func parsePassive(raw json.RawMessage) (*PassiveCheck, error) {
	const f = "checks.passive"
	obj, err := asObject(raw, f)
	if err != nil {
		return nil, err
	}
	p := defaultPassive()
	p.Healthy.HTTPStatuses = slices.Clone(p.Healthy.HTTPStatuses)
	p.Unhealthy.HTTPStatuses = slices.Clone(p.Unhealthy.HTTPStatuses)
	if v, ok := obj["type"]; ok {
		if p.Type, err = checkType(v, f+".type"); err != nil {
			return nil, err
		}
	}
	if v, ok := obj["healthy"]; ok {
		h, err := asObject(v, f+".healthy")
		if err != nil {
			return nil, err
		}
		if s, ok := h["http_statuses"]; ok {
			if p.Healthy.HTTPStatuses, err = parseStatuses(s, f+".healthy.http_statuses"); err != nil {
				return nil, err
			}
		}
		if s, ok := h["successes"]; ok {
			if p.Healthy.Successes, err = asIntRange(s, f+".healthy.successes", 0, 254); err != nil {
				return nil, err
			}
		}
	}
	if v, ok := obj["unhealthy"]; ok {
		u, err := asObject(v, f+".unhealthy")
		if err != nil {
			return nil, err
		}
		if s, ok := u["http_statuses"]; ok {
			if p.Unhealthy.HTTPStatuses, err = parseStatuses(s, f+".unhealthy.http_statuses"); err != nil {
				return nil, err
			}
		}
		for _, c := range []struct {
			name string
			dst  *int
		}{{"http_failures", &p.Unhealthy.HTTPFailures}, {"tcp_failures", &p.Unhealthy.TCPFailures}, {"timeouts", &p.Unhealthy.Timeouts}} {
			if s, ok := u[c.name]; ok {
				if *c.dst, err = asIntRange(s, f+".unhealthy."+c.name, 0, 254); err != nil {
					return nil, err
				}
			}
		}
	}
	return &p, nil
}

// parseStatuses reads a non-empty array of unique HTTP statuses in 200..599.
func parseStatuses(raw json.RawMessage, field string) ([]int, error) {
	items, err := asArray(raw, field)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, invalid(field, "must have at least 1 item")
	}
	out := make([]int, 0, len(items))
	for _, it := range items {
		n, err := asIntRange(it, field, 200, 599)
		if err != nil {
			return nil, err
		}
		if slices.Contains(out, n) {
			return nil, invalid(field, fmt.Sprintf("has %d twice (items must be unique)", n))
		}
		out = append(out, n)
	}
	return out, nil
}
